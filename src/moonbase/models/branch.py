from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moonbase.models.base import Base, PublicResource


class BranchState(enum.StrEnum):
    PENDING = "pending"
    SLEEP_IN_PROGRESS = "sleep_in_progress"
    SLEEPING = "sleeping"
    AWAKENING = "awakening"
    READY = "ready"


class Desired(enum.StrEnum):
    PRESENT = "present"
    ABSENT = "absent"


class Branch(PublicResource, Base):
    """A branch: desired shape (size, replicas) and what the reconciler last observed."""

    __tablename__ = "branches"

    database_id: Mapped[str] = mapped_column(ForeignKey("databases.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    production: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_branch: Mapped[str | None] = mapped_column(String(64), default=None)
    region: Mapped[str] = mapped_column(String(64))
    cluster_size: Mapped[str] = mapped_column(String(32))
    replicas: Mapped[int] = mapped_column(Integer, default=0)
    safe_migrations: Mapped[bool] = mapped_column(Boolean, default=False)
    #: what the servers currently enforce (None: not yet applied)
    safe_migrations_applied: Mapped[bool | None] = mapped_column(Boolean, default=None)
    #: development branches: when the parent's schema was copied in (None: not yet)
    schema_copied_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    #: set by the API when a fresh look at the schema is wanted
    schema_refresh_requested_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    table_count: Mapped[int] = mapped_column(Integer, default=0)
    actor_id: Mapped[str | None] = mapped_column(String(12), default=None)
    deletion_protected: Mapped[bool] = mapped_column(Boolean, default=False)
    schema_last_updated_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    desired: Mapped[Desired] = mapped_column(
        Enum(Desired, native_enum=False), default=Desired.PRESENT
    )
    state: Mapped[BranchState] = mapped_column(
        Enum(BranchState, native_enum=False), default=BranchState.PENDING
    )
    ready_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    #: one human-readable line about the last reconcile pass ("waiting for replica 2 ...")
    verdict: Mapped[str | None] = mapped_column(Text, default=None)
    #: reason of the last failure, cleared on success
    failure: Mapped[str | None] = mapped_column(Text, default=None)
    failed_permanently: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    #: work lease, so several Moonbase processes sharing a store never act on one branch at once
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
