"""Organization members. ``{id}`` is the user's id, as in the spec."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from moonbase.api.deps import Ctx
from moonbase.api.pagination import PageDep, envelope
from moonbase.resources.members import repository, service
from moonbase.resources.members.schemas import MembershipUpdate, membership_json
from moonbase.resources.users.service import caller

router = APIRouter(prefix="/organizations/{organization}/members")


@router.get("", operation_id="list_organization_members")
def list_organization_members(
    ctx: Ctx,
    organization: str,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    org = ctx.organization(organization, "list_organization_members")
    rows, total = repository.page(ctx.session, org.id, q, page.offset, page.per_page)
    items = [membership_json(m, u, org) for m, u in rows]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.get("/{id}", operation_id="get_organization_membership")
def get_organization_membership(ctx: Ctx, organization: str, id: str) -> dict[str, Any]:
    org = ctx.organization(organization, "get_organization_membership")
    membership, user = repository.get(ctx.session, org.id, id)
    return membership_json(membership, user, org)


@router.patch("/{id}", operation_id="update_organization_membership")
def update_organization_membership(
    ctx: Ctx, organization: str, id: str, body: MembershipUpdate
) -> dict[str, Any]:
    org = ctx.organization(organization, "update_organization_membership")
    membership, user = repository.get(ctx.session, org.id, id)
    service.update_role(
        ctx.session, membership, body.role, caller(ctx.session, ctx.principal, org.id)
    )
    return membership_json(membership, user, org)


@router.delete("/{id}", operation_id="remove_organization_member", status_code=204)
def remove_organization_member(
    ctx: Ctx,
    organization: str,
    id: str,
    delete_passwords: bool = False,
    delete_service_tokens: bool = False,
) -> Response:
    org = ctx.organization(organization, "remove_organization_member")
    membership, _ = repository.get(ctx.session, org.id, id)
    if service.remove(
        ctx.session,
        org,
        membership,
        caller(ctx.session, ctx.principal, org.id),
        delete_passwords=delete_passwords,
        delete_service_tokens=delete_service_tokens,
    ):
        ctx.wake_reconciler()
    return Response(status_code=204)
