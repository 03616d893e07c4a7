"""Service tokens: made here, shown once, kept as a hash; accesses granted and removed here.

Nobody grants more than they hold: a service token may hand out only accesses it holds itself,
where it holds them (an access held on one database cannot be granted organization-wide).
An OAuth token holds no service-token accesses, so it cannot grant any.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from moonbase.api.access import DATABASE_ACCESSES, ORG_ACCESSES
from moonbase.api.auth import ORG, Principal
from moonbase.errors import Unprocessable
from moonbase.ids import new_secret, token_hash, utcnow
from moonbase.models import Organization, ServiceToken, ServiceTokenAccess, User
from moonbase.resources import lookups
from moonbase.resources.service_tokens import repository
from moonbase.resources.service_tokens.schemas import (
    DATABASE,
    ORGANIZATION,
    AccessChange,
    ServiceTokenCreate,
    access_json,
)
from moonbase.settings import Settings

#: ten years: longer is "never", and far larger values would not fit a timestamp
MAX_TTL = 60 * 60 * 24 * 365 * 10
TOKEN_PREFIX = "pscale_tkn_"
_ORDER = {name: i for i, name in enumerate((*ORG_ACCESSES, *DATABASE_ACCESSES))}


@dataclass(frozen=True)
class Change:
    """Accesses to grant or remove, and what they are held on."""

    resource_type: str
    resource_id: str
    resource_name: str
    accesses: tuple[str, ...]

    @property
    def database_id(self) -> str | None:
        return self.resource_id if self.resource_type == DATABASE else None

    def where(self) -> str:
        if self.resource_type == DATABASE:
            return f"on database '{self.resource_name}'"
        return f"organization-wide in '{self.resource_name}'"


def _actor(session: Session, principal: Principal) -> tuple[str, str, str]:
    """(id, type, display name) of the caller, as the token will remember its creator."""
    name = f"{principal.actor_type} {principal.actor_id}"
    if principal.actor_type == "ServiceToken":
        creator = session.get(ServiceToken, principal.actor_id)
        if creator is not None:
            name = creator.name or creator.id
    elif principal.actor_type == "User":
        user = session.get(User, principal.actor_id)
        if user is not None:
            name = user.name
    return principal.actor_id, principal.actor_type, name


def create(
    session: Session, org: Organization, body: ServiceTokenCreate, principal: Principal
) -> tuple[ServiceToken, str]:
    """A token holding no access yet (grant them with ``add``); returns it and its plaintext."""
    if body.name is not None and not (1 <= len(body.name) <= 255 and body.name.strip()):
        raise Unprocessable("name must be between 1 and 255 characters, not only spaces")
    if body.ttl is not None and not (1 <= body.ttl <= MAX_TTL):
        raise Unprocessable(f"ttl must be a number of seconds between 1 and {MAX_TTL}")
    plain = new_secret(TOKEN_PREFIX)
    actor_id, actor_type, actor_name = _actor(session, principal)
    token = ServiceToken(
        organization_id=org.id,
        name=body.name,
        token_hash=token_hash(plain),
        expires_at=utcnow() + timedelta(seconds=body.ttl) if body.ttl else None,
        actor_id=actor_id,
        actor_type=actor_type,
        actor_display_name=actor_name,
    )
    session.add(token)
    session.flush()
    return token, plain


def delete(session: Session, token: ServiceToken) -> None:
    """Gone at once, with its accesses: the next request made with it is refused."""
    session.delete(token)
    session.flush()


def _valid_names() -> str:
    return (
        f"organization accesses: {', '.join(ORG_ACCESSES)}; "
        f"database accesses (on one database, or organization-wide for every database): "
        f"{', '.join(DATABASE_ACCESSES)}"
    )


def change(session: Session, org: Organization, body: AccessChange) -> Change:
    """Check a grant or removal request: known names, each where it may be held."""
    names = tuple(dict.fromkeys(body.access))
    if not names:
        raise Unprocessable("access must name at least one access: " + _valid_names())
    unknown = [n for n in names if n not in _ORDER]
    if unknown:
        raise Unprocessable(f"Unknown access {', '.join(unknown)}. Valid are {_valid_names()}")
    if not body.database:  # pscale sends "" when no --database is given
        return Change(ORGANIZATION, org.id, org.name, names)
    db = lookups.database(session, org.id, body.database)
    org_level = [n for n in names if n in ORG_ACCESSES]
    if org_level:
        raise Unprocessable(
            f"{', '.join(org_level)} can only be held organization-wide: "
            "leave out the database for organization accesses"
        )
    return Change(DATABASE, db.id, db.name, names)


def holds(principal: Principal, access: str, database_id: str | None) -> bool:
    """Whether the caller holds ``access`` organization-wide (``database_id`` None) or on
    the database, so that it may grant it there."""
    if principal.actor_type != "ServiceToken":
        return False
    where = principal.grants.get(access, set())
    return ORG in where or (database_id is not None and database_id in where)


def add(
    session: Session, token: ServiceToken, principal: Principal, change: Change
) -> list[ServiceTokenAccess]:
    """Grant the accesses (those already held stay as they are); returns them all."""
    lacking = [a for a in change.accesses if not holds(principal, a, change.database_id)]
    if lacking:
        if principal.actor_type != "ServiceToken":
            raise Unprocessable(
                "Only a service token can grant accesses, and only those it holds itself; "
                f"this {principal.actor_type} holds none"
            )
        raise Unprocessable(
            f"You cannot grant accesses you do not hold yourself {change.where()}: "
            + ", ".join(lacking)
        )
    held = {
        a.access: a
        for a in token.accesses
        if (a.resource_type, a.resource_id) == (change.resource_type, change.resource_id)
    }
    granted = []
    for name in change.accesses:
        grant = held.get(name)
        if grant is None:
            grant = ServiceTokenAccess(
                access=name, resource_type=change.resource_type, resource_id=change.resource_id
            )
            token.accesses.append(grant)
        granted.append(grant)
    token.updated_at = utcnow()
    session.flush()
    return granted


def remove(session: Session, token: ServiceToken, change: Change) -> None:
    """Remove the accesses held there; ones the token does not hold are no error."""
    for grant in [
        a
        for a in token.accesses
        if (a.resource_type, a.resource_id) == (change.resource_type, change.resource_id)
        and a.access in change.accesses
    ]:
        token.accesses.remove(grant)
    token.updated_at = utcnow()
    session.flush()


def accesses_json(
    session: Session, org: Organization, grants: list[ServiceTokenAccess], settings: Settings
) -> list[dict[str, Any]]:
    """Accesses with what each is held on: the organization first, then databases by name.

    An access on a database whose rows are gone (deleted, and its servers removed) is left
    out: it grants nothing (ids are never reused), nor could it be shown as the spec draws a
    resource (with its timestamps)."""
    dbs = repository.databases(
        session, (g.resource_id for g in grants if g.resource_type == DATABASE)
    )
    items = [
        access_json(
            g, org if g.resource_type == ORGANIZATION else dbs[g.resource_id], org, settings
        )
        for g in grants
        if g.resource_type == ORGANIZATION or g.resource_id in dbs
    ]
    items.sort(
        key=lambda i: (
            i["resource_type"] != ORGANIZATION,
            i["resource_name"],
            _ORDER.get(i["access"], len(_ORDER)),
        )
    )
    return items


def grant_id(token_id: str, resource_type: str, resource_id: str) -> str:
    """A stable id for the group of a token's accesses held on one resource."""
    digest = hashlib.sha256(f"{token_id}:{resource_type}:{resource_id}".encode()).hexdigest()
    return digest[:12]
