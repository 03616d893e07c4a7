"""Service tokens as PlanetScale renders them, and the accesses they may hold.

One access JSON serves two readers: the spec's ``service_token_accesses[]`` items
(``access, description, resource_name, resource_id, resource_type, resource{...}``) and the
access endpoints pscale and planetscale-go call (``id, type, access, resource{...}``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moonbase.ids import iso
from moonbase.models import Database, Organization, ServiceToken, ServiceTokenAccess
from moonbase.resources.databases.schemas import Strict
from moonbase.settings import Settings

ORGANIZATION = "Organization"
DATABASE = "Database"


class ServiceTokenCreate(Strict):
    name: str | None = None
    #: seconds until the token stops working
    ttl: int | None = None


class AccessChange(Strict):
    """What pscale sends to grant or remove accesses: no ``database`` (or ``""``) means
    organization-wide, which for a database access means every database, present and future."""

    database: str | None = None
    access: list[str]


#: what each access allows, shown next to it (access names: behaviour doc 6.3)
DESCRIPTIONS: dict[str, str] = {
    "read_organization": "Read the organization, its regions, cluster sizes and members",
    "write_organization": "Change the organization's settings and members",
    "read_invoices": "Read the organization's invoices",
    "read_audit_logs": "Read the organization's audit log",
    "read_databases": "List and read every database of the organization",
    "create_databases": "Create databases",
    "delete_databases": "Delete any database of the organization",
    "read_oauth_applications": "Read the organization's OAuth applications",
    "read_oauth_tokens": "Read OAuth tokens issued by the organization's applications",
    "write_oauth_tokens": "Issue and change OAuth tokens",
    "delete_oauth_tokens": "Revoke OAuth tokens",
    "read_service_tokens": "List service tokens and read their accesses",
    "write_service_tokens": "Create service tokens and grant them accesses",
    "delete_service_tokens": "Delete service tokens and remove their accesses",
    "write_teams": "Create, change and delete teams and their members",
    "read_metrics_endpoints": "Read the organization's metrics endpoints",
    "read_database": "Read the database and its settings",
    "delete_database": "Delete the database",
    "write_database": "Change the database's and its branches' settings",
    "read_branch": "Read branches and their schemas",
    "delete_branch": "Delete development branches",
    "create_branch": "Create branches",
    "promote_branches": "Promote branches to production",
    "demote_branches": "Demote production branches",
    "delete_production_branch": "Delete production branches",
    "connect_branch": "Create passwords for development branches",
    "connect_production_branch": "Create passwords for production branches",
    "connect_production_read_only_branch": "Create read-only passwords for production branches",
    "delete_branch_password": "Delete passwords and roles of development branches",
    "delete_production_branch_password": "Delete passwords and roles of production branches",
    "delete_production_read_only_branch_password": (
        "Delete read-only passwords and roles of production branches"
    ),
    "create_branch_password": "Create roles for development branches",
    "create_production_branch_password": "Create roles for production branches",
    "create_production_read_only_branch_password": (
        "Create read-only roles for production branches"
    ),
    "read_deploy_request": "Read deploy requests",
    "create_deploy_request": "Open, deploy, cancel and close deploy requests",
    "approve_deploy_request": "Approve deploy requests",
    "review_deploy_request": "Comment on deploy requests",
    "read_comment": "Read deploy request comments",
    "create_comment": "Comment on deploy requests",
    "restore_backup": "Restore backups of development branches",
    "restore_production_branch_backup": "Restore backups of production branches",
    "read_backups": "Read backups and backup policies",
    "write_backups": "Create backups and change backup policies",
    "delete_backups": "Delete backups of development branches",
    "delete_production_branch_backups": "Delete backups of production branches",
    "write_branch_vschema": "Change the VSchema of development branches",
    "write_production_branch_vschema": "Change the VSchema of production branches",
}


def resource_json(
    resource: Organization | Database | None,
    grant: ServiceTokenAccess,
    org: Organization,
    settings: Settings,
) -> dict[str, Any]:
    """The organization or database an access is held on (a vanished one keeps its id)."""
    body: dict[str, Any] = {
        "id": grant.resource_id,
        "type": grant.resource_type,
        "name": resource.name if resource is not None else grant.resource_id,
        "created_at": iso(resource.created_at) if resource is not None else None,
        "updated_at": iso(resource.updated_at) if resource is not None else None,
        "deleted_at": iso(resource.deleted_at) if isinstance(resource, Database) else None,
    }
    org_url = f"{settings.base_url}/v1/organizations/{org.name}"
    if isinstance(resource, Organization):
        body["url"] = org_url
    elif isinstance(resource, Database):
        body["url"] = f"{org_url}/databases/{resource.name}"
        body["branches_url"] = f"{body['url']}/branches"
    return body


def access_json(
    grant: ServiceTokenAccess,
    resource: Organization | Database | None,
    org: Organization,
    settings: Settings,
) -> dict[str, Any]:
    res = resource_json(resource, grant, org, settings)
    return {
        "id": grant.id,
        "type": f"{grant.resource_type}Access",
        "access": grant.access,
        "description": DESCRIPTIONS.get(grant.access, grant.access.replace("_", " ").capitalize()),
        "resource_name": res["name"],
        "resource_id": grant.resource_id,
        "resource_type": grant.resource_type,
        "resource": res,
        "created_at": iso(grant.created_at),
    }


def token_json(
    token: ServiceToken, accesses: list[dict[str, Any]], plain_text: str | None = None
) -> dict[str, Any]:
    return {
        "id": token.id,
        "type": "ServiceToken",
        "name": token.name,
        "display_name": token.name or token.id,
        # the plaintext exists only in the create response: the store keeps its hash
        "token": plain_text,
        "plain_text_refresh_token": None,
        "avatar_url": "",
        "created_at": iso(token.created_at),
        "updated_at": iso(token.updated_at),
        "expires_at": iso(token.expires_at),
        "last_used_at": iso(token.last_used_at),
        "actor_id": token.actor_id,
        "actor_display_name": token.actor_display_name,
        "actor_type": token.actor_type,
        "service_token_accesses": accesses,
        "oauth_accesses_by_resource": None,
    }


def grants_json(
    accesses: list[dict[str, Any]], grant_id: Callable[[str, str], str]
) -> list[dict[str, Any]]:
    """The accesses grouped by what they are held on (planetscale-go's ServiceTokenGrant);
    ``grant_id(resource_type, resource_id)`` names each group."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for item in accesses:
        key = (item["resource_type"], item["resource_id"])
        group = groups.setdefault(
            key,
            {
                "id": grant_id(*key),
                "type": "ServiceTokenGrant",
                "resource_name": item["resource_name"],
                "resource_type": item["resource_type"],
                "resource_id": item["resource_id"],
                "resource": item["resource"],
                "accesses": [],
            },
        )
        group["accesses"].append({"access": item["access"], "description": item["description"]})
    return list(groups.values())
