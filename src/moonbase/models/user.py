"""People: users, and their membership (with a role) in organizations."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moonbase.models.base import Base, PublicResource


class User(PublicResource, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    #: scrypt hash (``moonbase.passwords``); None: the user cannot sign in with a password
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)


class Membership(PublicResource, Base):
    """A user in an organization, as ``member`` or ``admin``."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16), default="member")
