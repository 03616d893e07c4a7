"""Helpers for the tests of members, teams and the current user: people in the store, and
OAuth tokens issued to them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from moonbase.ids import new_secret, token_hash
from moonbase.models import Membership, OAuthToken, User

from api_support import org_id, store


def add_user(
    app: FastAPI, email: str, *, organization_id: str | None = None, role: str = "member"
) -> str:
    """A user (made unless the address is known) who is ``role`` of the organization."""
    organization_id = organization_id or org_id(app)
    with store(app).tx() as s:
        user = s.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, name=email.partition("@")[0].title())
            s.add(user)
            s.flush()
        s.add(Membership(organization_id=organization_id, user_id=user.id, role=role))
        return user.id


def admin_user_id(app: FastAPI) -> str:
    """The first administrator, made at first start."""
    with store(app).tx() as s:
        found = s.scalar(select(User.id).where(User.email == "admin@localhost"))
    assert found is not None
    return found


def user_token(
    app: FastAPI,
    user_id: str | None,
    scopes: list[str],
    *,
    organization_id: str | None = None,
) -> dict[str, str]:
    """An OAuth token issued to ``user_id`` (None: to no user) in the organization."""
    secret = new_secret("pscale_oauth_")
    with store(app).tx() as s:
        s.add(
            OAuthToken(
                organization_id=organization_id or org_id(app),
                token_hash=token_hash(secret),
                scopes=scopes,
                user_id=user_id,
            )
        )
    return {"Authorization": f"Bearer {secret}"}


def role_of(app: FastAPI, user_id: str, organization_id: str | None = None) -> str | None:
    organization_id = organization_id or org_id(app)
    with store(app).tx() as s:
        return s.scalar(
            select(Membership.role).where(
                Membership.organization_id == organization_id, Membership.user_id == user_id
            )
        )


def emails(body: dict[str, Any]) -> list[str]:
    """The users' addresses on a page of members (or team members)."""
    return [item["user"]["email"] for item in body["data"]]
