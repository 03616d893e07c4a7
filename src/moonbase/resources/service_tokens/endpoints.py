"""Service tokens (spec: list/create/get/delete) and their accesses (pscale's access and
grants endpoints, which the spec lacks: see ``access.BEYOND_SPEC``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from moonbase.api.deps import Context, Ctx
from moonbase.api.pagination import Page, PageDep, envelope, paginate
from moonbase.models import Organization, ServiceToken
from moonbase.resources.service_tokens import repository, service
from moonbase.resources.service_tokens.schemas import (
    AccessChange,
    ServiceTokenCreate,
    grants_json,
    token_json,
)

router = APIRouter(prefix="/organizations/{organization}/service-tokens")


def _token(
    ctx: Context, org: Organization, token: ServiceToken, plain_text: str | None = None
) -> dict[str, Any]:
    accesses = service.accesses_json(ctx.session, org, list(token.accesses), ctx.settings)
    return token_json(token, accesses, plain_text)


def _whole_list(ctx: Context, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Every item on one page: pscale reads only the first page of these lists."""
    return paginate(ctx.request, Page(1, max(1, len(items))), items, ctx.settings.base_url)


@router.get("", operation_id="list_service_tokens")
def list_service_tokens(ctx: Ctx, organization: str, page: PageDep) -> dict[str, Any]:
    org = ctx.organization(organization, "list_service_tokens")
    rows, total = repository.page(ctx.session, org.id, page.offset, page.per_page)
    items = [_token(ctx, org, t) for t in rows]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.post("", operation_id="create_service_token")
def create_service_token(
    ctx: Ctx,
    organization: str,
    body: Annotated[ServiceTokenCreate | None, Body()] = None,
) -> dict[str, Any]:
    """200 with the plaintext ``token``, shown this once (pscale posts no body at all)."""
    org = ctx.organization(organization, "create_service_token")
    token, plain = service.create(ctx.session, org, body or ServiceTokenCreate(), ctx.principal)
    return _token(ctx, org, token, plain)


@router.get("/{id}", operation_id="get_service_token")
def get_service_token(ctx: Ctx, organization: str, id: str) -> dict[str, Any]:
    org = ctx.organization(organization, "get_service_token")
    return _token(ctx, org, repository.get(ctx.session, org.id, id))


@router.delete("/{id}", operation_id="delete_service_token", status_code=204)
def delete_service_token(ctx: Ctx, organization: str, id: str) -> Response:
    org = ctx.organization(organization, "delete_service_token")
    service.delete(ctx.session, repository.get(ctx.session, org.id, id))
    return Response(status_code=204)


@router.get("/{id}/access", operation_id="list_service_token_accesses")
def list_service_token_accesses(ctx: Ctx, organization: str, id: str) -> dict[str, Any]:
    org = ctx.organization(organization, "list_service_token_accesses")
    token = repository.get(ctx.session, org.id, id)
    return _whole_list(
        ctx, service.accesses_json(ctx.session, org, list(token.accesses), ctx.settings)
    )


@router.post("/{id}/access", operation_id="add_service_token_accesses")
def add_service_token_accesses(
    ctx: Ctx, organization: str, id: str, body: AccessChange
) -> dict[str, Any]:
    """Grant accesses; answers with the requested accesses, now all held."""
    org = ctx.organization(organization, "add_service_token_accesses")
    token = repository.get(ctx.session, org.id, id)
    granted = service.add(ctx.session, token, ctx.principal, service.change(ctx.session, org, body))
    return _whole_list(ctx, service.accesses_json(ctx.session, org, granted, ctx.settings))


@router.delete("/{id}/access", operation_id="delete_service_token_accesses", status_code=204)
def delete_service_token_accesses(
    ctx: Ctx, organization: str, id: str, body: AccessChange
) -> Response:
    org = ctx.organization(organization, "delete_service_token_accesses")
    token = repository.get(ctx.session, org.id, id)
    service.remove(ctx.session, token, service.change(ctx.session, org, body))
    return Response(status_code=204)


@router.get("/{id}/grants", operation_id="list_service_token_grants")
def list_service_token_grants(ctx: Ctx, organization: str, id: str) -> dict[str, Any]:
    """The token's accesses grouped by the organization or database they are held on."""
    org = ctx.organization(organization, "list_service_token_grants")
    token = repository.get(ctx.session, org.id, id)
    accesses = service.accesses_json(ctx.session, org, list(token.accesses), ctx.settings)
    groups = grants_json(accesses, lambda kind, rid: service.grant_id(token.id, kind, rid))
    return _whole_list(ctx, groups)
