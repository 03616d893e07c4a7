from __future__ import annotations

from typing import Any

from moonbase.ids import iso
from moonbase.models import Organization, Team, TeamMembership, User
from moonbase.resources.databases.schemas import Strict
from moonbase.resources.presenters import actor_json
from moonbase.resources.users.schemas import user_json

NAME_MAX = 255


class TeamCreate(Strict):
    name: str
    description: str | None = None


class TeamUpdate(Strict):
    name: str | None = None
    description: str | None = None


class TeamMemberAdd(Strict):
    user_id: str


def _actor(actor_id: str | None, actor_type: str) -> dict[str, Any]:
    return actor_json(actor_id, actor_type) or {"id": "", "display_name": "", "avatar_url": ""}


def team_json(team: Team, members: list[User], org: Organization) -> dict[str, Any]:
    return {
        "id": team.id,
        "type": "Team",
        "name": team.name,
        "display_name": team.name,
        "slug": team.slug,
        "description": team.description,
        "creator": _actor(team.creator_id, team.creator_type),
        "members": [user_json(u, org) for u in members],
        # Moonbase teams group people; database access is granted to tokens, not to teams
        "databases": [],
        "analyst_databases": [],
        "managed": False,
        "created_at": iso(team.created_at),
        "updated_at": iso(team.updated_at),
    }


def team_member_json(membership: TeamMembership, user: User, org: Organization) -> dict[str, Any]:
    return {
        "id": membership.id,
        "type": "TeamMembership",
        "user": user_json(user, org),
        "actor": _actor(membership.actor_id, membership.actor_type),
        # no password is ever created through a team (teams grant no database access)
        "passwords": [],
        "created_at": iso(membership.created_at),
        "updated_at": iso(membership.updated_at),
    }
