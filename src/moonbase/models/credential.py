from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moonbase.models.base import Base, PublicResource


class Credential(PublicResource, Base):
    """A MySQL branch password (``kind='password'``) or a PostgreSQL role (``kind='role'``).

    The plaintext is shown once at creation and never stored: ``verifier`` is what the
    database server itself stores (SCRAM verifier / mysql_native_password hash), so the
    reconciler can (re)create the login on the server without ever knowing the password.
    """

    __tablename__ = "credentials"

    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    #: indexed: the HTTP SQL API finds a password by its username on every call
    username: Mapped[str] = mapped_column(String(128), index=True)
    verifier: Mapped[str] = mapped_column(Text)
    role: Mapped[str | None] = mapped_column(String(32), default=None)
    inherited_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    replica: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the branch's default role (PostgreSQL ``postgres``): never listed, never dropped
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    cidrs: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    ttl_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    actor_id: Mapped[str | None] = mapped_column(String(12), default=None)
    #: set when the login exists on the server as described
    applied_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    #: desired gone; the reconciler drops the login, then removes the row
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    #: PostgreSQL roles: who gets the role's objects when it is dropped
    successor: Mapped[str | None] = mapped_column(String(128), default=None)
    #: PostgreSQL roles: hand the role's objects to this login (then cleared)
    reassign_to: Mapped[str | None] = mapped_column(String(128), default=None)
    #: why the last deletion was called off (e.g. the role still owns objects)
    drop_error: Mapped[str | None] = mapped_column(Text, default=None)
