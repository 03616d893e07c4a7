from __future__ import annotations

from typing import Any

from moonbase.ids import iso
from moonbase.models import Membership, Organization, User
from moonbase.resources.databases.schemas import Strict
from moonbase.resources.users.schemas import user_json

ROLES = ("member", "admin")


class MembershipUpdate(Strict):
    role: str


def membership_json(membership: Membership, user: User, org: Organization) -> dict[str, Any]:
    return {
        "id": membership.id,
        "type": "OrganizationMembership",
        "user": user_json(user, org),
        "role": membership.role,
        "created_at": iso(membership.created_at),
        "updated_at": iso(membership.updated_at),
    }
