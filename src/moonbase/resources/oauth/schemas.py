"""Request bodies and JSON shapes of OAuth applications and tokens, as the spec draws them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from moonbase.ids import iso
from moonbase.models import Branch, Database, OAuthApplication, OAuthToken, Organization, User
from moonbase.resources.databases.schemas import Strict
from moonbase.resources.oauth import scopes
from moonbase.settings import Settings


class TokenCreate(Strict):
    client_id: str
    client_secret: str
    grant_type: Literal["authorization_code", "refresh_token"]
    code: str | None = None
    redirect_uri: str | None = None
    refresh_token: str | None = None
    #: beyond the spec, as at /oauth/token: PKCE, and fewer scopes on refresh
    code_verifier: str | None = None
    scope: str | None = None


def application_json(app: OAuthApplication, tokens: int) -> dict[str, Any]:
    return {
        "id": app.id,
        "type": "OAuthApplication",
        "name": app.name,
        "redirect_uri": app.redirect_uris[0] if app.redirect_uris else "",
        #: beyond the spec: every registered redirect URI
        "redirect_uris": list(app.redirect_uris),
        "domain": app.domain,
        "created_at": iso(app.created_at),
        "updated_at": iso(app.updated_at),
        "scopes": " ".join(app.scopes),
        "avatar": app.avatar,
        "client_id": app.client_id,
        "tokens": tokens,
        "dcr": False,
        "single_org_authorization": True,
        "requires_org_scope": False,
        "scopes_by_resource": scopes.by_resource(app.scopes),
        "all_scopes_by_resource": scopes.by_resource(app.scopes, everything=True),
    }


@dataclass
class Reach:
    """What the tokens of one organization can reach, loaded once per response."""

    settings: Settings
    organization: Organization
    databases: list[Database]
    branches: list[Branch]
    users: dict[str, User] = field(default_factory=dict)


def _accesses(token: OAuthToken) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {level: [] for level in scopes.LEVELS}
    for scope in token.scopes:
        level, name = scopes.split(scope)
        out.setdefault(level, []).append({"name": name, "description": scopes.describe(scope)})
    return out


def accesses_by_resource(token: OAuthToken, reach: Reach) -> dict[str, Any]:
    base, org = reach.settings.base_url, reach.organization
    accesses = _accesses(token)
    dbs = [d for d in reach.databases if token.database_id in (None, d.id)]
    db_names = {d.id: d.name for d in dbs}
    branches = (
        [b for b in reach.branches if b.database_id in db_names] if accesses["branch"] else []
    )
    user = reach.users.get(token.user_id) if token.user_id else None
    return {
        "organization": {
            "organizations": [{"name": org.name, "id": org.id, "url": f"{base}/{org.name}"}],
            "accesses": accesses["organization"],
        },
        "database": {
            "databases": [
                {
                    "name": d.name,
                    "id": d.id,
                    "organization": org.name,
                    "url": f"{base}/{org.name}/{d.name}",
                }
                for d in dbs
            ],  # fmt: skip
            "accesses": accesses["database"],
        },
        "branch": {
            "branches": [
                {
                    "name": b.name,
                    "id": b.id,
                    "database": db_names[b.database_id],
                    "organization": org.name,
                    "url": f"{base}/{org.name}/{db_names[b.database_id]}/{b.name}",
                }
                for b in branches
            ],  # fmt: skip
            "accesses": accesses["branch"],
        },
        "user": {
            "users": [{"name": user.name, "id": user.id}] if user else [],
            "accesses": accesses["user"],
        },
    }


def token_json(
    token: OAuthToken,
    app: OAuthApplication,
    reach: Reach,
    *,
    plain_token: str | None = None,
    plain_refresh_token: str | None = None,
) -> dict[str, Any]:
    user = reach.users.get(token.user_id) if token.user_id else None
    body: dict[str, Any] = {
        "id": token.id,
        "type": "OAuthToken",
        "name": app.name,
        "display_name": app.name,
        "avatar_url": app.avatar,
        "created_at": iso(token.created_at),
        "updated_at": iso(token.updated_at),
        "expires_at": iso(token.expires_at),
        "last_used_at": iso(token.last_used_at),
        "actor_id": user.id if user else None,
        "actor_display_name": user.name if user else None,
        "actor_type": "User" if user else None,
        "service_token_accesses": None,
        "oauth_accesses_by_resource": accesses_by_resource(token, reach),
    }
    if plain_token is not None:
        body.update(token=plain_token, plain_text_refresh_token=plain_refresh_token)
    return body
