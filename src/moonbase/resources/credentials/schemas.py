from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from moonbase.ids import iso, utcnow
from moonbase.models import Branch, Credential, Database
from moonbase.resources.databases.schemas import Strict, region_of
from moonbase.resources.presenters import actor_json
from moonbase.settings import Settings

PASSWORD_ROLES = ("reader", "writer", "readwriter", "admin")
INHERITABLE_ROLES = (
    "pg_checkpoint", "pg_create_subscription", "pg_maintain", "pg_monitor", "pg_read_all_data",
    "pg_read_all_settings", "pg_read_all_stats", "pg_signal_backend", "pg_stat_scan_tables",
    "pg_use_reserved_connections", "pg_write_all_data", "postgres",
)  # fmt: skip


class PasswordCreate(Strict):
    name: str | None = None
    role: str | None = None
    replica: bool | None = None
    ttl: int | None = None
    cidrs: list[str] | None = None
    direct_vtgate: bool | None = None


class PasswordUpdate(Strict):
    name: str | None = None
    cidrs: list[str] | None = None


class RoleUpdate(Strict):
    name: str | None = None
    #: beyond PlanetScale (whose PostgreSQL rules are per database): networks this role may
    #: connect from, enforced by the servers' client rules (pg_hba)
    cidrs: list[str] | None = None
    require_where_on_delete: str | bool | None = None
    require_where_on_update: str | bool | None = None


class Reassign(Strict):
    successor: str | None = None


class RoleCreate(Strict):
    name: str | None = None
    ttl: int | None = None
    inherited_roles: list[str] = Field(default_factory=list)
    with_replication: bool | None = None
    #: beyond PlanetScale: see RoleUpdate.cidrs
    cidrs: list[str] | None = None
    #: beyond PlanetScale (which routes ``user|replica`` through its proxy): the role's
    #: access_host_url points at a replica
    replica: bool | None = None
    require_where_on_delete: str | bool | None = None
    require_where_on_update: str | bool | None = None


def expired(cred: Credential, now: datetime | None = None) -> bool:
    return cred.expires_at is not None and cred.expires_at <= (now or utcnow())


def password_json(
    cred: Credential,
    branch: Branch,
    db: Database,
    settings: Settings,
    host_url: str,
    plain_text: str | None = None,
) -> dict[str, Any]:
    return {
        "id": cred.id,
        "type": "DatabaseBranchPassword",
        "name": cred.name,
        "role": cred.role,
        "cidrs": cred.cidrs,
        "created_at": iso(cred.created_at),
        "deleted_at": iso(cred.deleted_at),
        "expires_at": iso(cred.expires_at),
        "last_used_at": iso(cred.last_used_at),
        "expired": expired(cred),
        "direct_vtgate": False,
        "direct_vtgate_addresses": [],
        "ttl_seconds": cred.ttl_seconds,
        "access_host_url": host_url,
        "access_host_regional_url": host_url,
        "access_host_regional_urls": [host_url],
        "actor": actor_json(cred.actor_id),
        "region": region_of(settings, branch.region),
        "username": cred.username,
        "plain_text": plain_text,
        "replica": cred.replica,
        "renewable": cred.ttl_seconds is not None,
        "database_branch": {
            "name": branch.name,
            "id": branch.id,
            "production": branch.production,
            "mysql_edge_address": host_url,
            "private_edge_connectivity": False,
        },
        # beyond PlanetScale: the database (schema) to use
        "database_name": db.schema_name,
    }


def role_json(
    cred: Credential,
    branch: Branch,
    host_url: str,
    password: str | None = None,
) -> dict[str, Any]:
    return {
        "id": cred.id,
        "type": "PostgresRole",
        "name": cred.name,
        "access_host_url": host_url,
        "private_access_host_url": "",
        "private_connection_service_name": "",
        "username": cred.username,
        "base_username": cred.username.rsplit(".", 1)[0],
        "password": password or "",
        "database_name": "postgres",
        "created_at": iso(cred.created_at),
        "updated_at": iso(cred.updated_at),
        "deleted_at": iso(cred.deleted_at),
        "expires_at": iso(cred.expires_at),
        "dropped_at": None,
        "disabled_at": None,
        "drop_failed": "",
        "ready": cred.applied_at is not None,
        "expired": expired(cred),
        "default": cred.is_default,
        "ttl": cred.ttl_seconds or 0,
        "inherited_roles": list(cred.inherited_roles),
        "cidrs": cred.cidrs,
        "replica": cred.replica,
        "with_replication": False,
        "branch": {
            "id": branch.id,
            "name": branch.name,
            "created_at": iso(branch.created_at),
            "updated_at": iso(branch.updated_at),
            "deleted_at": iso(branch.deleted_at),
        },
        "actor": actor_json(cred.actor_id) or {"id": "", "display_name": "", "avatar_url": ""},
        "query_safety_settings": {
            "require_where_on_delete": "off",
            "require_where_on_update": "off",
        },
    }
