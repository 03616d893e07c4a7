"""OAuth applications and their tokens (the spec's operations; applications themselves are
registered by an administrator with ``moonbase oauth-app create``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Response

from moonbase.api.deps import Context, Ctx
from moonbase.api.pagination import PageDep, envelope
from moonbase.errors import Unprocessable
from moonbase.models import OAuthToken, Organization
from moonbase.resources.oauth import repository, scopes, service
from moonbase.resources.oauth.schemas import Reach, TokenCreate, application_json, token_json

APPS = "/organizations/{organization}/oauth-applications"
router = APIRouter(prefix=APPS)


def _reach(ctx: Context, org: Organization, tokens: Sequence[OAuthToken]) -> Reach:
    dbs = repository.databases(ctx.session, org.id)
    on_branches = any(scopes.split(s)[0] == "branch" for t in tokens for s in t.scopes)
    branches = repository.branches(ctx.session, [d.id for d in dbs]) if on_branches else []
    users = repository.users(ctx.session, {t.user_id for t in tokens if t.user_id})
    return Reach(ctx.settings, org, dbs, branches, users)


@router.get("", operation_id="list_oauth_applications")
def list_oauth_applications(ctx: Ctx, organization: str, page: PageDep) -> dict[str, Any]:
    org = ctx.organization(organization, "list_oauth_applications")
    apps, total = repository.applications(ctx.session, org.id, page.offset, page.per_page)
    counts = repository.token_counts(ctx.session, [a.id for a in apps])
    items = [application_json(a, counts.get(a.id, 0)) for a in apps]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.get("/{application_id}", operation_id="get_oauth_application")
def get_oauth_application(ctx: Ctx, organization: str, application_id: str) -> dict[str, Any]:
    org = ctx.organization(organization, "get_oauth_application")
    app = repository.application(ctx.session, org.id, application_id)
    return application_json(app, repository.token_counts(ctx.session, [app.id]).get(app.id, 0))


@router.get("/{application_id}/tokens", operation_id="list_oauth_tokens")
def list_oauth_tokens(
    ctx: Ctx, organization: str, application_id: str, page: PageDep
) -> dict[str, Any]:
    org = ctx.organization(organization, "list_oauth_tokens")
    app = repository.application(ctx.session, org.id, application_id)
    tokens, total = repository.tokens(ctx.session, app.id, page.offset, page.per_page)
    reach = _reach(ctx, org, tokens)
    items = [token_json(t, app, reach) for t in tokens]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.get("/{application_id}/tokens/{token_id}", operation_id="get_oauth_token")
def get_oauth_token(
    ctx: Ctx, organization: str, application_id: str, token_id: str
) -> dict[str, Any]:
    org = ctx.organization(organization, "get_oauth_token")
    app = repository.application(ctx.session, org.id, application_id)
    token = repository.token(ctx.session, app.id, token_id)
    return token_json(token, app, _reach(ctx, org, [token]))


@router.delete(
    "/{application_id}/tokens/{token_id}", operation_id="delete_oauth_token", status_code=204
)
def delete_oauth_token(ctx: Ctx, organization: str, application_id: str, token_id: str) -> Response:
    org = ctx.organization(organization, "delete_oauth_token")
    app = repository.application(ctx.session, org.id, application_id)
    service.revoke(ctx.session, repository.token(ctx.session, app.id, token_id))
    return Response(status_code=204)


@router.post("/{id}/token", operation_id="create_oauth_token")
def create_oauth_token(ctx: Ctx, organization: str, id: str, body: TokenCreate) -> dict[str, Any]:
    """The token endpoint as an API operation: the caller's service token needs
    ``write_oauth_tokens`` and the body the application's client credentials."""
    org = ctx.organization(organization, "create_oauth_token")
    app = repository.application(ctx.session, org.id, id)
    try:
        client = service.authenticate_client(ctx.session, body.client_id, body.client_secret)
        if client.id != app.id:
            raise service.GrantError("invalid_client", "The client_id is not this application's")
        issued = service.grant(ctx.session, app, body.grant_type, body.model_dump())
    except service.GrantError as exc:
        ctx.commit()  # what the error left on purpose stays (a reused code's token is revoked)
        raise Unprocessable(exc.description) from None
    return token_json(
        issued.token,
        app,
        _reach(ctx, org, [issued.token]),
        plain_token=issued.access_token,
        plain_refresh_token=issued.refresh_token,
    )
