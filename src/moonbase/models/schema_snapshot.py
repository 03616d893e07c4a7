from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from moonbase.ids import utcnow
from moonbase.models.base import Base


class SchemaSnapshot(Base):
    """The last schema the reconciler read from a branch's primary (the API never talks to a
    server itself). ``tables`` holds one object per table: name, namespace, raw DDL and what
    lint needs."""

    __tablename__ = "schema_snapshots"

    branch_id: Mapped[str] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True
    )
    tables: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    taken_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
