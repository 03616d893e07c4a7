from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from moonbase.errors import NotFound
from moonbase.models import Webhook, WebhookDelivery


def page(session: Session, database_id: str, offset: int, limit: int) -> tuple[list[Webhook], int]:
    query = select(Webhook).where(Webhook.database_id == database_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Webhook.created_at, Webhook.id).offset(offset).limit(limit)
    )
    return list(rows), total


def count(session: Session, database_id: str) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Webhook).where(Webhook.database_id == database_id)
        )
        or 0
    )


def url_taken(session: Session, database_id: str, url: str, other_than: str | None = None) -> bool:
    query = (
        select(func.count())
        .select_from(Webhook)
        .where(Webhook.database_id == database_id, Webhook.url == url)
    )
    if other_than is not None:
        query = query.where(Webhook.id != other_than)
    return bool(session.scalar(query))


def get(session: Session, database_id: str, webhook_id: str) -> Webhook:
    hook = session.scalar(
        select(Webhook).where(Webhook.database_id == database_id, Webhook.id == webhook_id)
    )
    if hook is None:
        raise NotFound(f"Webhook '{webhook_id}' was not found")
    return hook


def claim_test_slot(session: Session, webhook_id: str, now: datetime, since: datetime) -> bool:
    """Record a test at ``now`` unless one was recorded after ``since``; one statement, so two
    concurrent calls cannot both pass."""
    result = session.execute(
        update(Webhook)
        .where(
            Webhook.id == webhook_id,
            or_(Webhook.last_tested_at.is_(None), Webhook.last_tested_at <= since),
        )
        .values(last_tested_at=now, updated_at=Webhook.updated_at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def last_tested_at(session: Session, webhook_id: str) -> datetime | None:
    return session.scalar(select(Webhook.last_tested_at).where(Webhook.id == webhook_id))


def remove(session: Session, hook: Webhook) -> None:
    """The webhook and its deliveries, sent or not (the foreign key cascades too; this does
    not depend on it)."""
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id))
    session.delete(hook)
    session.flush()
