from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moonbase.models import Branch, Database, Desired


def live(organization_id: str, visible: set[str] | None):  # type: ignore[no-untyped-def]
    query = select(Database).where(
        Database.organization_id == organization_id, Database.deleted_at.is_(None)
    )
    if visible is not None:
        query = query.where(Database.id.in_(visible))
    return query


def page(
    session: Session, organization_id: str, visible: set[str] | None, offset: int, limit: int
) -> tuple[list[Database], int]:
    query = live(organization_id, visible)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Database.created_at, Database.id).offset(offset).limit(limit)
    )
    return list(rows), total


def name_taken(session: Session, organization_id: str, name: str) -> bool:
    count = session.scalar(
        select(func.count())
        .select_from(Database)
        .where(
            Database.organization_id == organization_id,
            Database.name == name,
            Database.deleted_at.is_(None),
        )
    )
    return bool(count)


def branches_of(session: Session, database_ids: list[str]) -> dict[str, list[Branch]]:
    found: dict[str, list[Branch]] = defaultdict(list)
    if not database_ids:
        return found
    rows = session.scalars(
        select(Branch).where(
            Branch.database_id.in_(database_ids), Branch.desired == Desired.PRESENT
        )
    )
    for branch in rows:
        found[branch.database_id].append(branch)
    return found
