"""Who is calling: a service token (``<id>:<token>``) or an OAuth token (``Bearer <token>``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from moonbase.api.access import LEGACY_SCOPES, ORG_ACCESSES, RULES, Rule, usable
from moonbase.errors import NotFound, Unauthorized
from moonbase.ids import token_hash, utcnow
from moonbase.models import OAuthToken, ServiceToken

ORG = "org"

#: ``last_used_at`` is written at most this often per token (a write per request would make
#: every GET a write transaction)
LAST_USED_RESOLUTION = timedelta(seconds=30)


@dataclass
class Principal:
    organization_id: str
    actor_id: str
    actor_type: str
    #: service tokens: access name -> ``"org"`` and/or database ids it is held on
    grants: dict[str, set[str]] = field(default_factory=dict)
    #: OAuth tokens: ``level:scope`` strings
    scopes: set[str] = field(default_factory=set)
    oauth_database_id: str | None = None

    @property
    def is_oauth(self) -> bool:
        return self.actor_type == "OAuthToken"

    def _access_held(self, access: str, database_id: str | None) -> bool:
        where = self.grants.get(access, set())
        if access in ORG_ACCESSES:
            return ORG in where
        if database_id is None:
            # an organization-level operation that lists database accesses (list_databases):
            # held on any database counts; the list then shows only those databases
            return bool(where)
        return ORG in where or database_id in where

    def _scope_held(self, level: str, scope: str, database_id: str | None) -> bool:
        if level in ("database", "branch") and self.oauth_database_id not in (None, database_id):
            return False
        return f"{level}:{scope}" in self.scopes

    def allowed(self, rule: Rule, database_id: str | None = None, production: bool = False) -> bool:
        if self.is_oauth:
            # an operation the spec gives no OAuth scope is for service tokens only, unless it
            # needs nothing at all (then any token of the organization may call it)
            if not any(rule.scopes.values()):
                return not rule.accesses and not rule.restricted
            return any(
                usable(scope, production, scope=True)
                and self._scope_held(level, scope, database_id)
                for level, names in rule.scopes.items()
                for scope in names
            )
        if not rule.restricted:
            return True
        return any(
            usable(access, production) and self._access_held(access, database_id)
            for access in rule.accesses
        )

    def visible_database_ids(self) -> set[str] | None:
        """Databases ``list_databases`` may show: None means all of the organization."""
        if self.is_oauth:
            return None if self.oauth_database_id is None else {self.oauth_database_id}
        ids: set[str] = set()
        for access in RULES["list_databases"].accesses:
            where = self.grants.get(access, set())
            if ORG in where:
                return None
            ids |= where
        return ids


def authorize(
    principal: Principal,
    operation: str,
    organization_id: str,
    database_id: str | None = None,
    production: bool = False,
) -> None:
    """The one place access is checked. Another organization's resources do not exist for
    the caller (404); so, as on PlanetScale, does a resource the token holds no access to."""
    if principal.organization_id != organization_id:
        raise NotFound()
    rule = RULES[operation]
    if not principal.allowed(rule, database_id, production):
        needs = ", ".join(rule.scopes_text() if principal.is_oauth else rule.accesses)
        raise NotFound(f"Not Found (or the token lacks the access this needs: one of {needs})")


def _expand_scopes(raw: list[str]) -> set[str]:
    scopes: set[str] = set()
    for scope in raw:
        if ":" in scope:
            scopes.add(scope)
            continue
        for name in LEGACY_SCOPES.get(scope, (scope,)):
            scopes.update({f"organization:{name}", f"user:{name}", f"database:{name}"})
    return scopes


def authenticate(session: Session, header: str | None) -> Principal:
    if not header:
        raise Unauthorized()
    header = header.strip()
    now = utcnow()
    if header.lower().startswith("bearer "):
        oauth = session.scalar(
            select(OAuthToken).where(OAuthToken.token_hash == token_hash(header[7:].strip()))
        )
        if oauth is None or (oauth.expires_at is not None and oauth.expires_at <= now):
            raise Unauthorized()
        return Principal(
            organization_id=oauth.organization_id,
            actor_id=oauth.id,
            actor_type="OAuthToken",
            scopes=_expand_scopes(oauth.scopes),
            oauth_database_id=oauth.database_id,
        )
    token_id, sep, secret = header.partition(":")
    if not sep or not secret:
        raise Unauthorized()
    token = session.get(ServiceToken, token_id.strip())
    if (
        token is None
        or token.token_hash != token_hash(secret.strip())
        or (token.expires_at is not None and token.expires_at <= now)
    ):
        raise Unauthorized()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
    grants: dict[str, set[str]] = {}
    for grant in token.accesses:
        key = ORG if grant.resource_type == "Organization" else grant.resource_id
        grants.setdefault(grant.access, set()).add(key)
    return Principal(token.organization_id, token.id, "ServiceToken", grants=grants)
