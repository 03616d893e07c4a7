"""Webhooks of a database, and the outbox of their deliveries.

A delivery row is written in the same transaction as the change it reports, and a worker sends
it only once that transaction has committed: a change that rolls back sends nothing, and a
delivery that was not sent yet survives a restart.

The webhook's ``secret`` is stored as given to the client: it is the key that signs every
delivery, so a hash of it would not do.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moonbase.ids import new_id, utcnow
from moonbase.models.base import Base, PublicResource


class Webhook(PublicResource, Base):
    __tablename__ = "webhooks"

    database_id: Mapped[str] = mapped_column(ForeignKey("databases.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: what the last delivery attempt got back ("200 OK", "timed out after 2 s" ...)
    last_sent_result: Mapped[str | None] = mapped_column(Text, default=None)
    last_sent_success: Mapped[bool | None] = mapped_column(Boolean, default=None)
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    #: when ``test_webhook`` last queued a test event (it may do so once per 20 s)
    last_tested_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    #: every attempt failed, or the webhook was disabled before it was sent
    FAILED = "failed"


class WebhookDelivery(Base):
    """One event for one webhook: the exact bytes to send, and how sending went so far."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(12), primary_key=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(64))
    #: the JSON body, kept as sent: every retry carries the same bytes and signature
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[DeliveryState] = mapped_column(
        Enum(DeliveryState, native_enum=False), default=DeliveryState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_result: Mapped[str | None] = mapped_column(Text, default=None)
    #: a worker that is sending it holds it until then (a crashed worker's claim lapses)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
