"""Credentials: MySQL branch passwords and PostgreSQL roles.

The plaintext is generated here, returned once and forgotten; the store keeps the verifier the
database server needs, and the reconciler creates the login from it.
"""

from __future__ import annotations

import ipaddress
import secrets
import string
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from moonbase import verifiers
from moonbase.errors import Unprocessable
from moonbase.ids import new_secret, utcnow
from moonbase.models import Branch, Credential, Database
from moonbase.resources.credentials.schemas import (
    INHERITABLE_ROLES,
    PASSWORD_ROLES,
    PasswordCreate,
    PasswordUpdate,
    RoleCreate,
    RoleUpdate,
)

MAX_TTL = 60 * 60 * 24 * 365 * 10
DEFAULT_ROLE = "postgres"


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


def check_cidrs(cidrs: list[str] | None) -> list[str] | None:
    """IPv4 networks in CIDR form (the server's host masks are IPv4); None/[] = anywhere."""
    if not cidrs:
        return None
    checked = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise Unprocessable(f"'{cidr}' is not a valid CIDR range") from None
        if network.version != 4:
            raise Unprocessable(f"'{cidr}' is not an IPv4 range: only IPv4 ranges are supported")
        checked.append(str(network))
    return list(dict.fromkeys(checked))


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
    cidrs = check_cidrs(body.cidrs)
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
        cidrs=cidrs,
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
    if body.replica and branch.replicas == 0:
        raise Unprocessable(f"Branch '{branch.name}' has no replicas to read from")
    cidrs = check_cidrs(body.cidrs)
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
        cidrs=cidrs,
        replica=bool(body.replica),
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


def update_password(session: Session, cred: Credential, body: PasswordUpdate) -> Credential:
    _check_name(body.name)
    if body.name is not None:
        cred.name = body.name
    if body.cidrs is not None:
        cidrs = check_cidrs(body.cidrs)
        if cidrs != cred.cidrs:
            cred.cidrs = cidrs
            cred.applied_at = None  # the server's host masks change
    cred.updated_at = utcnow()
    session.flush()
    return cred


def renew(session: Session, cred: Credential) -> Credential:
    """Push the expiry of a credential made with a ttl one ttl further from now."""
    if cred.ttl_seconds is None:
        raise Unprocessable("This credential has no ttl, so there is nothing to renew")
    now = utcnow()
    if cred.expires_at is not None and cred.expires_at <= now:
        raise Unprocessable("This credential has expired and can no longer be renewed")
    cred.expires_at = now + timedelta(seconds=cred.ttl_seconds)
    session.flush()
    return cred


def update_role(session: Session, cred: Credential, body: RoleUpdate) -> Credential:
    _check_name(body.name)
    for field in ("require_where_on_delete", "require_where_on_update"):
        if getattr(body, field) not in (None, False, "off"):
            raise Unprocessable(f"{field} is not supported by this installation yet")
    if body.name is not None:
        cred.name = body.name
    if body.cidrs is not None:
        cidrs = check_cidrs(body.cidrs)
        if cidrs != cred.cidrs:
            cred.cidrs = cidrs
            cred.applied_at = None  # the servers' client rules change
    cred.updated_at = utcnow()
    session.flush()
    return cred


def reset_password(session: Session, cred: Credential) -> str:
    """A new password for a role: returned once; the server gets the new verifier."""
    plain = new_secret("pscale_pw_")
    cred.verifier = verifiers.scram_sha256(plain)
    cred.applied_at = None
    cred.updated_at = utcnow()
    session.flush()
    return plain


def default_role(session: Session, branch: Branch) -> Credential:
    """The branch's ``postgres`` role, made visible to the API on first use."""
    found = session.scalar(
        select(Credential).where(Credential.branch_id == branch.id, Credential.is_default)
    )
    if found is None:
        found = Credential(
            branch_id=branch.id,
            kind="role",
            name="postgres",
            username=DEFAULT_ROLE,
            verifier="",
            inherited_roles=[],
            is_default=True,
            applied_at=utcnow(),  # it exists on every server; no password until a reset
        )
        session.add(found)
        session.flush()
    return found


def resolve_successor(session: Session, branch: Branch, successor: str | None) -> str | None:
    """A successor given as a role id of the branch, a username, or ``postgres``."""
    if successor is None or successor == "":
        return None
    if successor == DEFAULT_ROLE:
        return DEFAULT_ROLE
    for cred in session.scalars(
        select(Credential).where(
            Credential.branch_id == branch.id,
            Credential.kind == "role",
            Credential.deleted_at.is_(None),
        )
    ):
        if successor in (cred.id, cred.username, cred.name):
            return cred.username
    raise Unprocessable(f"Successor '{successor}' is not a role of branch {branch.name}")


def delete_role(session: Session, cred: Credential, successor: str | None) -> None:
    if cred.is_default:
        raise Unprocessable("The default role cannot be deleted")
    if successor == cred.username:
        raise Unprocessable("A role cannot be its own successor")
    cred.successor = successor
    cred.drop_error = None
    delete(session, cred)


def reassign(session: Session, cred: Credential, successor: str | None) -> None:
    if successor is None:
        raise Unprocessable("successor is required: the role or username to give objects to")
    if successor == cred.username:
        raise Unprocessable("A role cannot be its own successor")
    cred.reassign_to = successor
    session.flush()
