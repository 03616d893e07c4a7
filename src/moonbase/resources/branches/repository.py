from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moonbase.models import Branch, Desired, Instance


def page(
    session: Session,
    database_id: str,
    offset: int,
    limit: int,
    *,
    q: str | None = None,
    production: bool | None = None,
    safe_migrations: bool | None = None,
    descending: bool = False,
) -> tuple[list[Branch], int]:
    query = select(Branch).where(
        Branch.database_id == database_id, Branch.desired == Desired.PRESENT
    )
    if q:
        query = query.where(Branch.name.icontains(q, autoescape=True))
    if production is not None:
        query = query.where(Branch.production.is_(production))
    if safe_migrations is not None:
        query = query.where(Branch.safe_migrations.is_(safe_migrations))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = (Branch.created_at.desc(), Branch.id.desc()) if descending else (
        Branch.created_at, Branch.id
    )  # fmt: skip
    rows = session.scalars(query.order_by(*order).offset(offset).limit(limit))
    return list(rows), total


def ports(session: Session, branch_ids: list[str]) -> dict[str, list[int]]:
    """Ports of each branch's servers, primary first."""
    found: dict[str, list[int]] = {b: [] for b in branch_ids}
    if not branch_ids:
        return found
    rows = session.execute(
        select(Instance.branch_id, Instance.port)
        .where(Instance.branch_id.in_(branch_ids))
        .order_by(Instance.branch_id, Instance.ordinal)
    )
    for branch_id, port in rows:
        found[branch_id].append(port)
    return found
