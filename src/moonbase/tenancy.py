"""More organizations (tenants) on one installation.

Making an organization is the installation administrator's act, not any organization's: a
token belongs to exactly one organization and sees nothing of the others, so no token could
be allowed to make (and thereby see) another. ``moonbase org create`` therefore runs on the
Moonbase host and writes to the store directly, like the first start does; whoever can read
the store's data directory (or its URL) administers the installation anyway.

Each organization starts with an admin service token holding every access (shown once) and,
optionally, an admin member: an existing user, or a new one whose password is shown once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moonbase.bootstrap import grant_all
from moonbase.errors import Conflict, Unprocessable
from moonbase.ids import new_id, new_secret, token_hash
from moonbase.models import Membership, Organization, ServiceToken, User
from moonbase.passwords import hash_password

#: lowercase letters, digits and inner dashes, as PlanetScale's organization names
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
#: first path segments Moonbase answers itself (the API, the OAuth pages, the dashboard's
#: sign-in ...): an organization so named could have no dashboard page at ``/{name}``
RESERVED_NAMES = frozenset({
    "v1", "oauth", "healthz", "docs", "redoc", "openapi.json", "sign-in", "sign-out",
    "static", "favicon.ico", "robots.txt", ".well-known",
})  # fmt: skip


@dataclass(frozen=True)
class NewOrganization:
    organization: str
    organization_id: str
    token_id: str
    token: str = field(repr=False)
    admin_user_id: str | None = None
    admin_email: str | None = None
    #: only when the user was made here (an existing user keeps their password)
    admin_password: str | None = field(default=None, repr=False)


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise Unprocessable(
            f"Invalid organization name '{name}': use 1 to 64 lowercase letters, digits and "
            "dashes, starting and ending with a letter or digit"
        )
    if name in RESERVED_NAMES:
        raise Unprocessable(f"'{name}' is one of Moonbase's own paths: choose another name")
    return name


def check_email(email: str) -> str:
    email = email.strip()
    if len(email) > 255 or not EMAIL.match(email):
        raise Unprocessable(f"Invalid email address '{email}'")
    return email


def create_organization(
    session: Session, name: str, *, default_region: str, admin_email: str | None = None
) -> NewOrganization:
    """Flushes only: the caller commits (all of it, or nothing)."""
    check_name(name)
    email = check_email(admin_email) if admin_email is not None else None
    if session.scalar(select(Organization.id).where(Organization.name == name)) is not None:
        raise Conflict(f"An organization named '{name}' already exists")
    org = Organization(name=name, default_region=default_region)
    session.add(org)
    try:
        session.flush()
    except IntegrityError as exc:  # made meanwhile by someone else
        raise Conflict(f"An organization named '{name}' already exists") from exc
    secret = new_secret("pscale_tkn_")
    token = ServiceToken(
        id=new_id(), organization_id=org.id, name="admin", token_hash=token_hash(secret)
    )
    grant_all(token, org.id)
    session.add(token)
    session.flush()
    if email is None:
        return NewOrganization(org.name, org.id, token.id, secret)
    user, password = _user(session, email)
    session.add(Membership(organization_id=org.id, user_id=user.id, role="admin"))
    session.flush()
    return NewOrganization(org.name, org.id, token.id, secret, user.id, user.email, password)


def _user(session: Session, email: str) -> tuple[User, str | None]:
    """The user with this address (any case), or a new one with a generated password."""
    found = session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    if found is not None:
        return found, None
    password = new_secret("", 20)
    user = User(email=email, name=email.partition("@")[0], password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user, password
