"""The user object, as ``GET /v1/user``, members and teams render it."""

from __future__ import annotations

from typing import Any

from moonbase.ids import iso
from moonbase.models import Organization, User


def organization_ref(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "created_at": iso(org.created_at),
        "updated_at": iso(org.updated_at),
        "deleted_at": None,
    }


def user_json(user: User, organization: Organization) -> dict[str, Any]:
    """``organization`` is the one the request is about: organizations are isolated tenants,
    so a user's other organizations never show, not even as ``default_organization``."""
    return {
        "id": user.id,
        "type": "User",
        "display_name": user.name or user.email,
        "name": user.name,
        "email": user.email,
        "avatar_url": "",
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
        "two_factor_auth_configured": False,
        "default_organization": organization_ref(organization),
        "sso": False,
        "managed": False,
        "directory_managed": False,
        # Moonbase sends no mail, so it has never verified an address
        "email_verified": None,
    }
