"""Queries about memberships; a missing member is a 404."""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from moonbase.errors import NotFound
from moonbase.models import Membership, User

Row = tuple[Membership, User]


def _of(organization_id: str) -> Select[Membership, User]:
    return (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization_id)
    )


def page(
    session: Session, organization_id: str, q: str | None, offset: int, limit: int
) -> tuple[list[Row], int]:
    query = _of(organization_id)
    if q:
        query = query.where(
            or_(User.name.icontains(q, autoescape=True), User.email.icontains(q, autoescape=True))
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Membership.created_at, Membership.id).offset(offset).limit(limit)
    )
    return [(m, u) for m, u in rows], total


def get(session: Session, organization_id: str, user_id: str) -> Row:
    """The membership of a user, by the user's id (as the spec's ``{id}`` names it)."""
    found = session.execute(_of(organization_id).where(Membership.user_id == user_id)).first()
    if found is None:
        raise NotFound(f"Member '{user_id}' was not found")
    return found[0], found[1]


def admin_ids(session: Session, organization_id: str) -> list[str]:
    """Memberships with the admin role, locked (on PostgreSQL) so two requests cannot each
    take away one of the last two admins."""
    return list(
        session.scalars(
            select(Membership.id)
            .where(Membership.organization_id == organization_id, Membership.role == "admin")
            .with_for_update()
        )
    )


def organization_count(session: Session, user_id: str) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Membership).where(Membership.user_id == user_id)
        )
        or 0
    )
