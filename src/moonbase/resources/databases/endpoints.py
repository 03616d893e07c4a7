from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from moonbase.api.deps import Ctx
from moonbase.api.pagination import PageDep, envelope, paginate
from moonbase.resources import lookups
from moonbase.resources.databases import repository, service
from moonbase.resources.databases.schemas import DatabaseCreate, DatabaseUpdate, database_json
from moonbase.resources.presenters import region_json

router = APIRouter(prefix="/organizations/{organization}/databases")


@router.get("", operation_id="list_databases")
def list_databases(ctx: Ctx, organization: str, page: PageDep) -> dict[str, Any]:
    org = ctx.organization(organization, "list_databases")
    rows, total = repository.page(
        ctx.session, org.id, ctx.principal.visible_database_ids(), page.offset, page.per_page
    )
    branches = repository.branches_of(ctx.session, [d.id for d in rows])
    items = [database_json(d, org, branches[d.id], ctx.settings) for d in rows]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.post("", operation_id="create_database", status_code=201)
def create_database(ctx: Ctx, organization: str, body: DatabaseCreate) -> dict[str, Any]:
    org = ctx.organization(organization, "create_database")
    db = service.create(ctx.session, org, body, ctx.settings, ctx.request.app.state.offer)
    if not ctx.principal.is_oauth:
        service.grant_creator(ctx.session, ctx.principal.actor_id, db)
    ctx.wake_reconciler()
    return database_json(db, org, repository.branches_of(ctx.session, [db.id])[db.id], ctx.settings)


@router.get("/{database}", operation_id="get_database")
def get_database(ctx: Ctx, organization: str, database: str) -> dict[str, Any]:
    db = ctx.database(organization, database, "get_database")
    org = lookups.organization(ctx.session, organization)
    return database_json(db, org, repository.branches_of(ctx.session, [db.id])[db.id], ctx.settings)


@router.patch("/{database}", operation_id="update_database_settings")
def update_database_settings(
    ctx: Ctx, organization: str, database: str, body: DatabaseUpdate
) -> dict[str, Any]:
    db = ctx.database(organization, database, "update_database_settings")
    service.update(ctx.session, db, body)
    org = lookups.organization(ctx.session, organization)
    return database_json(db, org, repository.branches_of(ctx.session, [db.id])[db.id], ctx.settings)


@router.delete("/{database}", operation_id="delete_database", status_code=204)
def delete_database(ctx: Ctx, organization: str, database: str) -> Response:
    db = ctx.database(organization, database, "delete_database")
    service.delete(ctx.session, db)
    ctx.wake_reconciler()
    return Response(status_code=204)


@router.get("/{database}/regions", operation_id="list_database_regions")
def list_database_regions(
    ctx: Ctx, organization: str, database: str, page: PageDep
) -> dict[str, Any]:
    db = ctx.database(organization, database, "list_database_regions")
    items = [region_json(r, ctx.settings) for r in ctx.settings.regions if r.slug == db.region]
    return paginate(ctx.request, page, items, ctx.settings.base_url)


@router.get("/{database}/read-only-regions", operation_id="list_read_only_regions")
def list_read_only_regions(
    ctx: Ctx, organization: str, database: str, page: PageDep
) -> dict[str, Any]:
    ctx.database(organization, database, "list_read_only_regions")
    # read-only regions are a Vitess add-on; every server of this installation is in the
    # database's own region, so there are none
    return paginate(ctx.request, page, [], ctx.settings.base_url)
