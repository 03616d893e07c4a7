from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from moonbase.catalog import ClusterSize
from moonbase.ids import iso
from moonbase.models import Organization


class OrganizationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    billing_email: str | None = None
    idp_managed_roles: bool | None = None
    invoice_budget_amount: int | None = None


def organization_json(org: Organization, database_count: int) -> dict[str, Any]:
    return {
        "id": org.id,
        "type": "Organization",
        "name": org.name,
        "billing_email": org.billing_email or "",
        "created_at": iso(org.created_at),
        "updated_at": iso(org.updated_at),
        "plan": org.plan,
        "valid_billing_info": True,
        "sso": False,
        "sso_directory": False,
        "single_tenancy": True,
        "managed_tenancy": False,
        "has_past_due_invoices": False,
        "database_count": database_count,
        "sso_portal_url": None,
        "features": {},
        "idp_managed_roles": False,
        "invoice_budget_amount": "0",
        "keyspace_shard_limit": 1,
        "has_card": False,
        "payment_info_required": False,
    }


def size_json(size: ClusterSize, rates: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": size.name,
        "display_name": size.display_name,
        "cpu": size.cpu,
        "storage": None,
        "ram": size.ram,
        "metal": False,
        "enabled": True,
        "provider": None,
        "default_vtgate": "",
        "default_vtgate_rate": None,
        "sort_order": size.sort_order,
        "architecture": "x86_64",
        "development": size.development,
        "production": size.production,
    }
    if rates:
        body.update(rate=size.rate, replica_rate=size.replica_rate)
    return body
