from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moonbase.errors import NotFound
from moonbase.models import Database, ServiceToken


def page(
    session: Session, organization_id: str, offset: int, limit: int
) -> tuple[list[ServiceToken], int]:
    query = select(ServiceToken).where(ServiceToken.organization_id == organization_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(ServiceToken.created_at, ServiceToken.id).offset(offset).limit(limit)
    )
    return list(rows), total


def get(session: Session, organization_id: str, token_id: str) -> ServiceToken:
    """A token of the organization; another organization's token does not exist here."""
    token = session.get(ServiceToken, token_id)
    if token is None or token.organization_id != organization_id:
        raise NotFound(f"Service token '{token_id}' was not found")
    return token


def databases(session: Session, ids: Iterable[str]) -> dict[str, Database]:
    """Databases by id, deleted ones included (an access may outlive its database)."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {db.id: db for db in session.scalars(select(Database).where(Database.id.in_(wanted)))}
