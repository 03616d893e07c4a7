"""Reading an organization's audit log a cursor page at a time, newest first.

Order is (created_at, id) descending: ids are random, so they only break ties between
entries of the same microsecond, and a cursor names a row whose position is that pair.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from moonbase.api.cursor import Cursor, CursorPage
from moonbase.errors import Unprocessable
from moonbase.models import AuditLog


def _after(row: AuditLog) -> ColumnElement[bool]:
    """Later in the list: older."""
    return or_(
        AuditLog.created_at < row.created_at,
        and_(AuditLog.created_at == row.created_at, AuditLog.id < row.id),
    )


def _before(row: AuditLog) -> ColumnElement[bool]:
    """Earlier in the list: newer."""
    return or_(
        AuditLog.created_at > row.created_at,
        and_(AuditLog.created_at == row.created_at, AuditLog.id > row.id),
    )


def _visible(organization_id: str, since: datetime, actions: list[str]) -> Select[AuditLog]:
    query = select(AuditLog).where(
        AuditLog.organization_id == organization_id, AuditLog.created_at >= since
    )
    if actions:
        query = query.where(AuditLog.action.in_(actions))
    return query


def page(
    session: Session,
    organization_id: str,
    cursor: Cursor,
    *,
    since: datetime,
    actions: list[str],
) -> CursorPage:
    """One page of entries no older than ``since`` (entries past retention are not shown
    even before the sweep deletes them)."""
    base = _visible(organization_id, since, actions)
    anchor: AuditLog | None = None
    if cursor.anchor is not None:
        anchor = session.scalar(base.where(AuditLog.id == cursor.anchor))
        if anchor is None:
            which = "ending_before" if cursor.backwards else "starting_after"
            raise Unprocessable(f"{which}: no audit log entry '{cursor.anchor}' in this list")
    if cursor.backwards:
        assert anchor is not None
        rows = list(
            session.scalars(
                base.where(_before(anchor))
                .order_by(AuditLog.created_at.asc(), AuditLog.id.asc())
                .limit(cursor.limit + 1)
            )
        )
        more = len(rows) > cursor.limit
        return CursorPage(list(reversed(rows[: cursor.limit])), has_prev=more, has_next=True)
    query = base if anchor is None else base.where(_after(anchor))
    rows = list(
        session.scalars(
            query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(cursor.limit + 1)
        )
    )
    more = len(rows) > cursor.limit
    return CursorPage(rows[: cursor.limit], has_prev=anchor is not None, has_next=more)
