"""Credentials: MySQL branch passwords and PostgreSQL roles.

The plaintext is generated here, returned once and forgotten; the store keeps the verifier the
database server needs, and the reconciler creates the login from it.
"""

from __future__ import annotations

import ipaddress
import secrets
import string
from datetime import timedelta

from sqlalchemy.orm import Session

from moonbase import verifiers
from moonbase.errors import Unprocessable
from moonbase.ids import new_secret, utcnow
from moonbase.models import Branch, Credential, Database
from moonbase.resources.credentials.schemas import (
    INHERITABLE_ROLES,
    PASSWORD_ROLES,
    PasswordCreate,
    RoleCreate,
)

MAX_TTL = 60 * 60 * 24 * 365 * 10


def _username(length: int = 20) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(length))


def _ttl(ttl: int | None) -> int | None:
    if ttl is None or ttl == 0:
        return None
    if ttl < 0 or ttl > MAX_TTL:
        raise Unprocessable(f"ttl must be a number of seconds between 1 and {MAX_TTL}")
    return ttl


def _check_name(name: str | None) -> None:
    if name is not None and not (1 <= len(name) <= 255):
        raise Unprocessable("name must be between 1 and 255 characters")


def create_password(
    session: Session, db: Database, branch: Branch, body: PasswordCreate, actor_id: str
) -> tuple[Credential, str]:
    if db.kind != "mysql":
        raise Unprocessable(
            "Passwords are for mysql databases; use the roles endpoints for postgresql"
        )
    _check_name(body.name)
    role = body.role or "admin"
    if role not in PASSWORD_ROLES:
        raise Unprocessable(f"Unknown role '{role}': use one of {', '.join(PASSWORD_ROLES)}")
    if body.replica:
        if role != "reader":
            raise Unprocessable("A replica password must have the reader role")
        if branch.replicas == 0:
            raise Unprocessable(f"Branch '{branch.name}' has no replicas to read from")
    if body.cidrs:
        for cidr in body.cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise Unprocessable(f"'{cidr}' is not a valid CIDR range") from None
        raise Unprocessable("IP restrictions (cidrs) are not supported by this installation yet")
    ttl = _ttl(body.ttl)
    plain = new_secret("pscale_pw_")
    username = _username()
    now = utcnow()
    cred = Credential(
        branch_id=branch.id,
        kind="password",
        name=body.name or f"password-{now:%Y%m%d%H%M%S}",
        username=username,
        verifier=verifiers.mysql_native(plain),
        role=role,
        replica=bool(body.replica),
        ttl_seconds=ttl,
        expires_at=now + timedelta(seconds=ttl) if ttl else None,
        actor_id=actor_id,
    )
    session.add(cred)
    session.flush()
    return cred, plain


def create_role(
    session: Session, db: Database, branch: Branch, body: RoleCreate, actor_id: str
) -> tuple[Credential, str]:
    if db.kind != "postgresql":
        raise Unprocessable("Roles are for postgresql databases; use passwords for mysql")
    _check_name(body.name)
    unknown = [r for r in body.inherited_roles if r not in INHERITABLE_ROLES]
    if unknown:
        raise Unprocessable(
            f"Unknown inherited_roles {', '.join(unknown)}: "
            f"use any of {', '.join(INHERITABLE_ROLES)}"
        )
    if body.with_replication:
        raise Unprocessable("with_replication is not supported by this installation")
    ttl = _ttl(body.ttl)
    plain = new_secret("pscale_pw_")
    username = f"pscale_api_{_username(12)}.{branch.id}"
    now = utcnow()
    cred = Credential(
        branch_id=branch.id,
        kind="role",
        name=body.name or username.split(".")[0],
        username=username,
        verifier=verifiers.scram_sha256(plain),
        inherited_roles=list(dict.fromkeys(body.inherited_roles)),
        ttl_seconds=ttl,
        expires_at=now + timedelta(seconds=ttl) if ttl else None,
        actor_id=actor_id,
    )
    session.add(cred)
    session.flush()
    return cred, plain


def delete(session: Session, cred: Credential) -> None:
    """Hide the credential now; the reconciler drops the login and ends its sessions."""
    cred.deleted_at = utcnow()
    session.flush()
