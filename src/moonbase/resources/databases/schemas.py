from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from moonbase.ids import iso
from moonbase.models import Branch, BranchState, Database, Organization
from moonbase.resources.presenters import find_region, region_json
from moonbase.settings import Region, Settings


class Strict(BaseModel):
    """Request bodies: JSON types are checked strictly ("2" is not an integer)."""

    model_config = ConfigDict(strict=True, extra="ignore")


class Storage(Strict):
    minimum_storage_bytes: int | None = None
    maximum_storage_bytes: int | None = None


class DatabaseCreate(Strict):
    name: str
    cluster_size: str
    region: str | None = None
    replicas: int | None = None
    kind: str | None = None
    major_version: str | None = None
    storage: Storage | None = None


class DatabaseUpdate(Strict):
    new_name: str | None = None
    automatic_migrations: bool | None = None
    migration_framework: str | None = None
    migration_table_name: str | None = None
    require_approval_for_deploy: bool | None = None
    restrict_branch_region: bool | None = None
    allow_data_branching: bool | None = None
    allow_foreign_key_constraints: bool | None = None
    insights_raw_queries: bool | None = None
    deletion_protected: bool | None = None
    production_branch_web_console: bool | None = None
    default_branch: str | None = None


def database_url(settings: Settings, org: str, db: str) -> str:
    return f"{settings.base_url}/v1/organizations/{org}/databases/{db}"


def region_of(settings: Settings, slug: str) -> dict[str, Any]:
    region = find_region(settings, slug) or Region(slug, slug, "This host")
    return region_json(region, settings)


def database_json(
    db: Database, org: Organization, branches: list[Branch], settings: Settings
) -> dict[str, Any]:
    default = next((b for b in branches if b.name == db.default_branch), None)
    ready = default is not None and default.state == BranchState.READY
    production = sum(1 for b in branches if b.production)
    url = database_url(settings, org.name, db.name)
    return {
        "id": db.id,
        "type": "Database",
        "url": url,
        "branches_url": f"{url}/branches",
        "branches_count": len(branches),
        "open_schema_recommendations_count": 0,
        "development_branches_count": len(branches) - production,
        "production_branches_count": production,
        "issues_count": 0,
        "multiple_admins_required_for_deletion": False,
        "ready": ready,
        "at_backup_restore_branches_limit": False,
        "at_development_branch_usage_limit": (
            len(branches) - production >= settings.development_branch_limit
        ),
        "data_import": None,
        "region": region_of(settings, db.region),
        "html_url": f"{settings.base_url}/{org.name}/{db.name}",
        "name": db.name,
        "state": "ready" if ready else "pending",
        "sharded": False,
        "default_branch_shard_count": 1 if db.kind == "mysql" else 0,
        "default_branch_read_only_regions_count": 0,
        "default_branch_table_count": default.table_count if default else 0,
        "default_branch": db.default_branch,
        "require_approval_for_deploy": db.require_approval_for_deploy,
        "deletion_protected": db.deletion_protected,
        "resizing": False,
        "resize_queued": False,
        "config_changing": False,
        "config_change_queued": False,
        "allow_data_branching": db.allow_data_branching,
        "foreign_keys_enabled": db.foreign_keys_enabled,
        "automatic_migrations": db.automatic_migrations,
        "restrict_branch_region": db.restrict_branch_region,
        "insights_raw_queries": db.insights_raw_queries,
        "plan": org.plan,
        "insights_enabled": False,
        "production_branch_web_console": db.production_branch_web_console,
        "migration_table_name": db.migration_table_name,
        "migration_framework": db.migration_framework,
        "created_at": iso(db.created_at),
        "updated_at": iso(db.updated_at),
        "schema_last_updated_at": iso(db.schema_last_updated_at),
        "kind": db.kind,
        # beyond PlanetScale: what this installation runs for the database
        "cluster_size": db.cluster_size,
        "replicas": db.replicas,
        "major_version": db.major_version,
        "development_branches_limit": settings.development_branch_limit,
    }
