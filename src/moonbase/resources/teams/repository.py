"""Queries about teams and their members; a missing one is a 404."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from moonbase.errors import NotFound
from moonbase.models import Team, TeamMembership, User

MemberRow = tuple[TeamMembership, User]


def page(
    session: Session, organization_id: str, q: str | None, offset: int, limit: int
) -> tuple[list[Team], int]:
    query = select(Team).where(Team.organization_id == organization_id)
    if q:
        query = query.where(
            or_(Team.name.icontains(q, autoescape=True), Team.slug.icontains(q, autoescape=True))
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Team.created_at, Team.id).offset(offset).limit(limit))
    return list(rows), total


def get(session: Session, organization_id: str, team: str) -> Team:
    """By slug (the spec's ``{team}``), or by id as pscale also sends."""
    found = session.scalar(
        select(Team)
        .where(Team.organization_id == organization_id, or_(Team.slug == team, Team.id == team))
        .order_by((Team.slug == team).desc())
        .limit(1)
    )
    if found is None:
        raise NotFound(f"Team '{team}' was not found")
    return found


def slug_taken(session: Session, organization_id: str, slug: str, but: str | None = None) -> bool:
    query = select(Team.id).where(Team.organization_id == organization_id, Team.slug == slug)
    if but is not None:
        query = query.where(Team.id != but)
    return session.scalar(query.limit(1)) is not None


def _members(team_ids: list[str]) -> Select[TeamMembership, User]:
    return (
        select(TeamMembership, User)
        .join(User, User.id == TeamMembership.user_id)
        .where(TeamMembership.team_id.in_(team_ids))
        .order_by(TeamMembership.created_at, TeamMembership.id)
    )


def users_of(session: Session, team_ids: list[str]) -> dict[str, list[User]]:
    found: dict[str, list[User]] = defaultdict(list)
    if team_ids:
        for membership, user in session.execute(_members(team_ids)):
            found[membership.team_id].append(user)
    return found


def member_page(
    session: Session, team_id: str, offset: int, limit: int
) -> tuple[list[MemberRow], int]:
    total = (
        session.scalar(
            select(func.count())
            .select_from(TeamMembership)
            .where(TeamMembership.team_id == team_id)
        )
        or 0
    )
    rows = session.execute(_members([team_id]).offset(offset).limit(limit))
    return [(m, u) for m, u in rows], total


def member(session: Session, team_id: str, id: str) -> MemberRow:
    """By the team membership's id or the user's id (the spec accepts either)."""
    found = session.execute(
        _members([team_id]).where(or_(TeamMembership.id == id, TeamMembership.user_id == id))
    ).first()
    if found is None:
        raise NotFound(f"Team member '{id}' was not found")
    return found[0], found[1]


def has_member(session: Session, team_id: str, user_id: str) -> bool:
    return (
        session.scalar(
            select(TeamMembership.id).where(
                TeamMembership.team_id == team_id, TeamMembership.user_id == user_id
            )
        )
        is not None
    )
