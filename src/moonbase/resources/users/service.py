"""Which user (if any) stands behind the caller."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from moonbase.api.auth import Principal
from moonbase.errors import NotFound
from moonbase.models import Membership, OAuthToken, Organization, User


def caller_user_id(session: Session, principal: Principal) -> str | None:
    """The user an OAuth token was issued to; None for service tokens (they belong to the
    organization, not to a person) and for OAuth tokens bound to no user."""
    if not principal.is_oauth:
        return None
    token = session.get(OAuthToken, principal.actor_id)
    return None if token is None else token.user_id


@dataclass(frozen=True)
class Caller:
    """Who acts in an organization: a person (an OAuth token issued to a user), or the
    organization itself (a service token, or an OAuth token issued to no user), whose
    accesses ``authorize`` has already checked."""

    user_id: str | None
    #: the person is an admin of the organization; always True for the organization itself
    admin: bool

    def is_user(self, user_id: str) -> bool:
        return self.user_id == user_id


def caller(session: Session, principal: Principal, organization_id: str) -> Caller:
    user_id = caller_user_id(session, principal)
    if user_id is None:
        return Caller(None, admin=True)
    role = session.scalar(
        select(Membership.role).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id
        )
    )
    return Caller(user_id, admin=role == "admin")


def current_user(session: Session, principal: Principal) -> tuple[User, Organization]:
    """As on PlanetScale, only an OAuth token issued to a user has a current user."""
    user_id = caller_user_id(session, principal)
    if user_id is None:
        raise NotFound(
            "No user is associated with this token: GET /v1/user needs an OAuth token "
            "issued to a user (service tokens belong to the organization)"
        )
    user = session.get(User, user_id)
    org = session.get(Organization, principal.organization_id)
    member = session.scalar(
        select(Membership.id).where(
            Membership.organization_id == principal.organization_id,
            Membership.user_id == user_id,
        )
    )
    if user is None or org is None or member is None:
        raise NotFound("No user is associated with this token")
    return user, org
