"""Organizations, regions and cluster sizes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from moonbase import catalog
from moonbase.api.auth import authorize
from moonbase.api.deps import Ctx, SettingsDep
from moonbase.api.pagination import PageDep, paginate
from moonbase.errors import Unprocessable
from moonbase.resources.organizations import service
from moonbase.resources.organizations.schemas import (
    OrganizationUpdate,
    organization_json,
    size_json,
)
from moonbase.resources.presenters import find_region, region_json

router = APIRouter()


@router.get("/organizations", operation_id="list_organizations")
def list_organizations(ctx: Ctx, page: PageDep) -> dict[str, Any]:
    authorize(ctx.principal, "list_organizations", ctx.principal.organization_id)
    orgs = service.list_for(ctx.session, ctx.principal.organization_id)
    items = [organization_json(o, service.database_count(ctx.session, o.id)) for o in orgs]
    return paginate(ctx.request, page, items, ctx.settings.base_url)


@router.get("/organizations/{organization}", operation_id="get_organization")
def get_organization(ctx: Ctx, organization: str) -> dict[str, Any]:
    org = ctx.organization(organization, "get_organization")
    return organization_json(org, service.database_count(ctx.session, org.id))


@router.patch("/organizations/{organization}", operation_id="update_organization")
def update_organization(ctx: Ctx, organization: str, body: OrganizationUpdate) -> dict[str, Any]:
    org = ctx.organization(organization, "update_organization")
    service.update(ctx.session, org, body)
    return organization_json(org, service.database_count(ctx.session, org.id))


@router.get("/regions", operation_id="list_public_regions")
def list_public_regions(request: Request, settings: SettingsDep, page: PageDep) -> dict[str, Any]:
    items = [region_json(r, settings, public=True) for r in settings.regions]
    return paginate(request, page, items, settings.base_url)


@router.get("/organizations/{organization}/regions", operation_id="list_regions_for_organization")
def list_regions_for_organization(ctx: Ctx, organization: str, page: PageDep) -> dict[str, Any]:
    ctx.organization(organization, "list_regions_for_organization")
    items = [region_json(r, ctx.settings) for r in ctx.settings.regions]
    return paginate(ctx.request, page, items, ctx.settings.base_url)


@router.get(
    "/organizations/{organization}/cluster-size-skus", operation_id="list_cluster_size_skus"
)
def list_cluster_size_skus(
    ctx: Ctx,
    organization: str,
    engine: Annotated[str, Query()] = "mysql",
    rates: Annotated[bool, Query()] = False,
    region: Annotated[str | None, Query()] = None,
    database: Annotated[str | None, Query()] = None,
) -> list[dict[str, Any]]:
    ctx.organization(organization, "list_cluster_size_skus")
    if engine not in ("mysql", "postgresql"):
        raise Unprocessable(f"Unknown engine '{engine}': use mysql or postgresql")
    if region is not None and find_region(ctx.settings, region) is None:
        raise Unprocessable(f"Unknown region '{region}'")
    return [size_json(s, rates) for s in catalog.sizes_for(engine)]
