from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from moonbase.api.deps import Ctx
from moonbase.api.pagination import PageDep, envelope
from moonbase.resources import lookups
from moonbase.resources.branches import repository
from moonbase.resources.branches.schemas import branch_json

router = APIRouter(prefix="/organizations/{organization}/databases/{database}/branches")


@router.get("", operation_id="list_branches")
def list_branches(ctx: Ctx, organization: str, database: str, page: PageDep) -> dict[str, Any]:
    db = ctx.database(organization, database, "list_branches")
    org = lookups.organization(ctx.session, organization)
    rows, total = repository.page(ctx.session, db.id, page.offset, page.per_page)
    ports = repository.ports(ctx.session, [b.id for b in rows])
    items = [branch_json(b, db, org, ctx.settings, ports[b.id]) for b in rows]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.get("/{branch}", operation_id="get_branch")
def get_branch(ctx: Ctx, organization: str, database: str, branch: str) -> dict[str, Any]:
    db, found = ctx.branch(organization, database, branch, "get_branch")
    org = lookups.organization(ctx.session, organization)
    ports = repository.ports(ctx.session, [found.id])[found.id]
    return branch_json(found, db, org, ctx.settings, ports)
