"""Teams: names become slugs (unique in the organization); only the organization's members
can be in its teams; only an admin (or a token holding ``write_teams``) changes them."""

from __future__ import annotations

import re

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moonbase.api.auth import Principal
from moonbase.errors import Forbidden, Unprocessable
from moonbase.models import Membership, Team, TeamMembership, User
from moonbase.resources.teams import repository
from moonbase.resources.teams.schemas import NAME_MAX, TeamCreate, TeamUpdate
from moonbase.resources.users.service import Caller

DESCRIPTION_MAX = 1024
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    return _NOT_SLUG.sub("-", name.lower()).strip("-")


def _flush(session: Session, taken: str) -> None:
    """Flush; a unique constraint a concurrent request won first is the caller's 422."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise Unprocessable(taken) from exc


def require_admin(caller: Caller) -> None:
    if not caller.admin:
        raise Forbidden("Only an admin of the organization can change its teams")


def _name_and_slug(session: Session, organization_id: str, name: str, team_id: str | None = None
                   ) -> tuple[str, str]:  # fmt: skip
    name = name.strip()
    if not name:
        raise Unprocessable("name must not be empty")
    if len(name) > NAME_MAX:
        raise Unprocessable(f"name must be at most {NAME_MAX} characters")
    slug = slugify(name)
    if not slug:
        raise Unprocessable("name must contain at least one letter or digit")
    if repository.slug_taken(session, organization_id, slug, but=team_id):
        raise Unprocessable(f"A team named '{slug}' already exists in this organization")
    return name, slug


def _description(text: str | None) -> str | None:
    if text is not None and len(text) > DESCRIPTION_MAX:
        raise Unprocessable(f"description must be at most {DESCRIPTION_MAX} characters")
    return text


def create(session: Session, organization_id: str, body: TeamCreate, principal: Principal) -> Team:
    name, slug = _name_and_slug(session, organization_id, body.name)
    team = Team(
        organization_id=organization_id,
        name=name,
        slug=slug,
        description=_description(body.description),
        creator_id=principal.actor_id,
        creator_type=principal.actor_type,
    )
    session.add(team)
    _flush(session, f"A team named '{slug}' already exists in this organization")
    return team


def update(session: Session, team: Team, body: TeamUpdate) -> None:
    given = body.model_fields_set
    if "name" in given:
        if body.name is None:
            raise Unprocessable("name cannot be null")
        team.name, team.slug = _name_and_slug(session, team.organization_id, body.name, team.id)
    if "description" in given:
        team.description = _description(body.description)
    _flush(session, f"A team named '{team.slug}' already exists in this organization")


def delete(session: Session, team: Team) -> None:
    session.execute(sql_delete(TeamMembership).where(TeamMembership.team_id == team.id))
    session.delete(team)
    session.flush()


def add_member(
    session: Session, team: Team, user_id: str, principal: Principal
) -> tuple[TeamMembership, User]:
    member = session.scalar(
        select(Membership.id).where(
            Membership.organization_id == team.organization_id, Membership.user_id == user_id
        )
    )
    user = session.get(User, user_id) if member is not None else None
    if user is None:
        raise Unprocessable(f"User '{user_id}' is not a member of this organization")
    if repository.has_member(session, team.id, user_id):
        raise Unprocessable(f"User '{user_id}' is already a member of team '{team.slug}'")
    membership = TeamMembership(
        team_id=team.id,
        user_id=user_id,
        actor_id=principal.actor_id,
        actor_type=principal.actor_type,
    )
    session.add(membership)
    _flush(session, f"User '{user_id}' is already a member of team '{team.slug}'")
    return membership, user


def remove_member(session: Session, membership: TeamMembership) -> None:
    session.delete(membership)
    session.flush()
