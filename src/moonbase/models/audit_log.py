"""The organization's audit log: one row per change made through the API.

Rows are written in the transaction of the change they describe (``moonbase.api.audit``), so
a change that rolls back leaves no entry and a committed change always has one. Display names
are copied, not joined: an entry still reads right after its actor or target is gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from moonbase.ids import utcnow
from moonbase.models.base import Base, PublicResource


class AuditLog(PublicResource, Base):
    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_org_created", "organization_id", "created_at", "id"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    #: ``<noun>.<past tense verb>``: ``database.created``, ``branch.promoted`` ...
    action: Mapped[str] = mapped_column(String(128))
    actor_id: Mapped[str | None] = mapped_column(String(64), default=None)
    #: ``ServiceToken``, ``OAuthToken`` or ``User``
    actor_type: Mapped[str | None] = mapped_column(String(32), default=None)
    actor_display_name: Mapped[str] = mapped_column(String(255), default="")
    #: what the entry is filed under: the database, or the organization
    auditable_id: Mapped[str | None] = mapped_column(String(64), default=None)
    auditable_type: Mapped[str | None] = mapped_column(String(64), default=None)
    auditable_display_name: Mapped[str] = mapped_column(String(255), default="")
    target_id: Mapped[str | None] = mapped_column(String(64), default=None)
    target_type: Mapped[str | None] = mapped_column(String(64), default=None)
    target_display_name: Mapped[str | None] = mapped_column(String(255), default=None)
    remote_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    #: the request's fields, secrets removed (``metadata`` is taken by SQLAlchemy)
    details: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
