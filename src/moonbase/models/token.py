"""Service tokens and OAuth access tokens. Only hashes of secrets are stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from moonbase.models.base import Base, PublicResource


class ServiceToken(PublicResource, Base):
    __tablename__ = "service_tokens"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    #: who created the token through the API (None: made at first start)
    actor_id: Mapped[str | None] = mapped_column(String(64), default=None)
    actor_type: Mapped[str | None] = mapped_column(String(32), default=None)
    actor_display_name: Mapped[str | None] = mapped_column(String(255), default=None)

    accesses: Mapped[list[ServiceTokenAccess]] = relationship(
        back_populates="token", cascade="all, delete-orphan", lazy="selectin"
    )


class ServiceTokenAccess(PublicResource, Base):
    """One access held by a token, on the organization (all databases) or on one database."""

    __tablename__ = "service_token_accesses"
    __table_args__ = (UniqueConstraint("token_id", "access", "resource_type", "resource_id"),)

    token_id: Mapped[str] = mapped_column(ForeignKey("service_tokens.id", ondelete="CASCADE"))
    access: Mapped[str] = mapped_column(String(64))
    #: ``Organization`` or ``Database``
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(12))

    token: Mapped[ServiceToken] = relationship(back_populates="accesses")


class OAuthToken(PublicResource, Base):
    """An OAuth access token (``Authorization: Bearer``) with its granted scopes.

    ``scopes`` is a list of ``resource:scope`` strings (``organization:create_databases``,
    ``database:read_database`` ...) or coarse legacy scopes (``read_databases``).
    ``resource_id`` narrows database/branch scopes to one database when set.
    """

    __tablename__ = "oauth_tokens"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    database_id: Mapped[str | None] = mapped_column(String(12), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    #: the user who authorised the token (None: not bound to a user); GET /v1/user answers
    #: with this user, and removing the user from the organization revokes the token
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    # --- OAuth applications (feature: OAuth authorization-code flow) ---
    #: the application the token was issued to (None: made without one, e.g. by tests)
    application_id: Mapped[str | None] = mapped_column(
        ForeignKey("oauth_applications.id", ondelete="CASCADE"), default=None
    )
    #: hash of the current refresh token; rotated on every refresh
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
