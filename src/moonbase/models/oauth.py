"""OAuth applications (clients registered by an administrator) and authorization codes.

The access and refresh tokens an application obtains are ``OAuthToken`` rows (models/token.py).
Only hashes of secrets are stored: the client secret, codes and tokens are shown once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from moonbase.models.base import Base, PublicResource


class OAuthApplication(PublicResource, Base):
    __tablename__ = "oauth_applications"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    #: exact redirect URIs the application may use; the first is the one the API shows
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: the most the application may ask for (``level:scope`` or legacy names)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(255), default="")
    avatar: Mapped[str] = mapped_column(String(1024), default="")


class OAuthAuthorizationCode(PublicResource, Base):
    """A code handed to the redirect URI: single use, short-lived, bound to the application,
    the redirect URI and (PKCE) the client's code verifier."""

    __tablename__ = "oauth_authorization_codes"

    application_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_applications.id", ondelete="CASCADE")
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: database/branch scopes narrowed to this database (None: every database)
    database_id: Mapped[str | None] = mapped_column(String(12), default=None)
    #: PKCE (S256 only)
    code_challenge: Mapped[str | None] = mapped_column(String(128), default=None)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    #: the token the code was exchanged for: revoked if the code is presented again
    token_id: Mapped[str | None] = mapped_column(String(12), default=None)
