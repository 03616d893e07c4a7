"""First start: the first organization and an admin service token, shown once."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from moonbase.api.access import DATABASE_ACCESSES, ORG_ACCESSES
from moonbase.ids import new_id, new_secret, token_hash
from moonbase.models import Membership, Organization, ServiceToken, ServiceTokenAccess, User
from moonbase.passwords import hash_password
from moonbase.settings import Settings


@dataclass(frozen=True)
class AdminToken:
    organization: str
    token_id: str
    token: str = field(repr=False)
    #: the first administrator's sign-in (web dashboard, OAuth consent pages)
    admin_email: str = ""
    #: only when generated here (None when it came from the environment)
    admin_password: str | None = field(default=None, repr=False)


def grant_all(token: ServiceToken, organization_id: str) -> None:
    """Every organization access, and every database access on all databases."""
    for access in (*ORG_ACCESSES, *DATABASE_ACCESSES):
        token.accesses.append(
            ServiceTokenAccess(
                access=access, resource_type="Organization", resource_id=organization_id
            )
        )


def first_start(session: Session, settings: Settings) -> AdminToken | None:
    """Create the first organization and admin token unless the store already has one."""
    if session.scalar(select(Organization.id).limit(1)) is not None:
        return None
    org = Organization(name=settings.organization, default_region=settings.regions[0].slug)
    session.add(org)
    session.flush()
    token_id = settings.admin_token_id or new_id()
    secret = settings.admin_token or new_secret("pscale_tkn_")
    token = ServiceToken(
        id=token_id, organization_id=org.id, name="admin", token_hash=token_hash(secret)
    )
    grant_all(token, org.id)
    session.add(token)
    password = settings.admin_password or new_secret("", 20)
    user = User(
        email=settings.admin_email, name="Administrator", password_hash=hash_password(password)
    )
    session.add(user)
    session.flush()
    session.add(Membership(organization_id=org.id, user_id=user.id, role="admin"))
    session.flush()
    shown = None if settings.admin_password else password
    return AdminToken(org.name, token_id, secret, settings.admin_email, shown)


def cli_config_path(home: Path) -> Path:
    return home / "cli.json"


def save_cli_config(home: Path, settings: Settings, admin: AdminToken) -> Path:
    """Write what the CLI needs to reach this installation, readable by this user only."""
    path = cli_config_path(home)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(
            {
                "url": settings.base_url,
                "organization": admin.organization,
                "token_id": admin.token_id,
                "token": admin.token,
            },
            handle,
            indent=2,
        )
    os.chmod(path, 0o600)
    return path
