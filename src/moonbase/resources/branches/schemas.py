from __future__ import annotations

from typing import Any

from pydantic import Field

from moonbase.ids import iso
from moonbase.models import Branch, BranchState, Database, Organization
from moonbase.resources.databases.schemas import Storage, Strict, database_url, region_of
from moonbase.resources.presenters import actor_json
from moonbase.settings import Settings


class BranchCreate(Strict):
    name: str
    parent_branch: str | None = None
    region: str | None = None
    deletion_protected: bool | None = None
    backup_id: str | None = None
    seed_data: str | None = None
    restore_point: str | None = None
    cluster_size: str | None = None
    keyspace_cluster_sizes: list[dict[str, str]] | None = None
    storage: Storage | None = None
    major_version: str | None = None
    create_database_if_missing: bool | None = None
    kind: str | None = None


class BranchUpdate(Strict):
    new_name: str | None = None
    deletion_protected: bool | None = None


class SafeMigrationsUpdate(Strict):
    safe_migrations: bool = Field(...)


def branch_address(settings: Settings, port: int | None) -> str:
    return f"{settings.advertise_host}:{port}" if port else ""


def branch_json(
    branch: Branch, db: Database, org: Organization, settings: Settings, ports: list[int]
) -> dict[str, Any]:
    ready = branch.state == BranchState.READY
    address = branch_address(settings, ports[0] if ports else None)
    url = f"{database_url(settings, org.name, db.name)}/branches/{branch.name}"
    return {
        "id": branch.id,
        "type": "Branch",
        "name": branch.name,
        "created_at": iso(branch.created_at),
        "updated_at": iso(branch.updated_at),
        "deleted_at": iso(branch.deleted_at),
        "restore_checklist_completed_at": None,
        "schema_last_updated_at": iso(branch.schema_last_updated_at),
        "kind": db.kind,
        "mysql_address": address if db.kind == "mysql" else "",
        "mysql_edge_address": address if db.kind == "mysql" else "",
        "state": branch.state.value,
        "direct_vtgate": False,
        "vtgate_size": "",
        "vtgate_name": None,
        "vtgate_count": 0,
        "vtgate_autoscaling": False,
        "vtgate_max_count": None,
        "vtgate_target_cpu_utilization": None,
        "cluster_name": branch.cluster_size,
        "cluster_iops": None,
        "ready": ready,
        "schema_ready": ready
        and (branch.parent_branch is None or branch.schema_copied_at is not None),
        "metal": False,
        "production": branch.production,
        "safe_migrations": branch.safe_migrations,
        "deletion_protected": branch.deletion_protected,
        "sharded": False,
        "shard_count": 1 if db.kind == "mysql" else 0,
        "keyspace_count": 1 if db.kind == "mysql" else 0,
        "stale_schema": False,
        "actor": actor_json(branch.actor_id),
        "restored_from_branch": None,
        "private_edge_connectivity": False,
        "has_replicas": branch.replicas > 0,
        "has_read_only_replicas": False,
        "html_url": f"{settings.base_url}/{org.name}/{db.name}/{branch.name}",
        "url": url,
        "region": region_of(settings, branch.region),
        "parent_branch": branch.parent_branch,
        "vtgate_options": {},
        # beyond PlanetScale: what the reconciler last saw and did
        "replicas": branch.replicas,
        "status": {
            "verdict": branch.verdict,
            "failure": branch.failure,
            "failed_permanently": branch.failed_permanently,
            "attempts": branch.attempts,
            "next_attempt_at": iso(branch.next_attempt_at),
            "ready_at": iso(branch.ready_at),
        },
        "servers": [
            {"role": "primary" if n == 0 else "replica", "address": branch_address(settings, p)}
            for n, p in enumerate(ports)
        ],
    }
