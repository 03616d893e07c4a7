"""Queries for OAuth applications, their codes and tokens."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from moonbase.errors import NotFound
from moonbase.models import (
    Branch,
    Database,
    Desired,
    Membership,
    OAuthApplication,
    OAuthAuthorizationCode,
    OAuthToken,
    Organization,
    User,
)


def application(session: Session, organization_id: str, application_id: str) -> OAuthApplication:
    app = session.get(OAuthApplication, application_id)
    if app is None or app.organization_id != organization_id:
        raise NotFound(f"OAuth application '{application_id}' was not found")
    return app


def application_by_client_id(session: Session, client_id: str) -> OAuthApplication | None:
    return session.scalar(select(OAuthApplication).where(OAuthApplication.client_id == client_id))


def applications(
    session: Session, organization_id: str, offset: int = 0, limit: int | None = None
) -> tuple[list[OAuthApplication], int]:
    query = select(OAuthApplication).where(OAuthApplication.organization_id == organization_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(OAuthApplication.created_at, OAuthApplication.id).offset(offset).limit(limit)
    )
    return list(rows), total


def token_counts(session: Session, application_ids: Iterable[str]) -> dict[str, int]:
    ids = list(application_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(OAuthToken.application_id, func.count())
        .where(OAuthToken.application_id.in_(ids))
        .group_by(OAuthToken.application_id)
    )
    return {app_id: count for app_id, count in rows if app_id is not None}


def tokens(
    session: Session, application_id: str, offset: int, limit: int
) -> tuple[list[OAuthToken], int]:
    query = select(OAuthToken).where(OAuthToken.application_id == application_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(OAuthToken.created_at, OAuthToken.id).offset(offset).limit(limit)
    )
    return list(rows), total


def token(session: Session, application_id: str, token_id: str) -> OAuthToken:
    found = session.get(OAuthToken, token_id)
    if found is None or found.application_id != application_id:
        raise NotFound(f"OAuth token '{token_id}' was not found")
    return found


def token_by_hash(session: Session, hashed: str) -> OAuthToken | None:
    """The OAuth token whose access or refresh token hashes to ``hashed``."""
    return session.scalar(
        select(OAuthToken).where(
            OAuthToken.application_id.is_not(None),
            or_(OAuthToken.token_hash == hashed, OAuthToken.refresh_token_hash == hashed),
        )
    )


def token_by_refresh_hash(session: Session, refresh_hash: str) -> OAuthToken | None:
    return session.scalar(select(OAuthToken).where(OAuthToken.refresh_token_hash == refresh_hash))


def code_by_hash(session: Session, code_hash: str) -> OAuthAuthorizationCode | None:
    return session.scalar(
        select(OAuthAuthorizationCode).where(OAuthAuthorizationCode.code_hash == code_hash)
    )


def delete_expired_codes(session: Session, now: datetime) -> None:
    session.execute(delete(OAuthAuthorizationCode).where(OAuthAuthorizationCode.expires_at < now))


def role(session: Session, organization_id: str, user_id: str) -> str | None:
    """The user's role in the organization (``member`` / ``admin``), None if not a member."""
    return session.scalar(
        select(Membership.role).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id
        )
    )


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def users(session: Session, ids: Iterable[str]) -> dict[str, User]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def organization(session: Session, organization_id: str) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("Organization was not found")
    return org


def organization_by_name(session: Session, name: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.name == name))


def databases(session: Session, organization_id: str) -> list[Database]:
    return list(
        session.scalars(
            select(Database)
            .where(Database.organization_id == organization_id, Database.deleted_at.is_(None))
            .order_by(Database.name)
        )
    )


def branches(session: Session, database_ids: Iterable[str]) -> list[Branch]:
    ids = list(database_ids)
    if not ids:
        return []
    return list(
        session.scalars(
            select(Branch)
            .where(Branch.database_id.in_(ids), Branch.desired == Desired.PRESENT)
            .order_by(Branch.name)
        )
    )
