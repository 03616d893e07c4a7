"""Changing roles and removing members, and the rules that keep an organization governable.

- Only an admin changes roles or removes someone else; nobody changes their own role; any
  member may leave. A service token acts for the organization itself: the accesses it needs
  (``write_organization``) were checked by ``authorize``, so no role applies to it.
- An organization always keeps at least one admin; a user cannot leave their only
  organization (PlanetScale's rules for both).
- Removing a member revokes what they hold in that organization: team memberships and the
  OAuth tokens issued to them there (and, on request, the passwords those tokens created).
"""

from __future__ import annotations

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from moonbase.errors import Forbidden, Unprocessable
from moonbase.ids import utcnow
from moonbase.models import (
    Branch,
    Credential,
    Database,
    Membership,
    OAuthToken,
    Organization,
    Team,
    TeamMembership,
)
from moonbase.resources.credentials import service as credentials
from moonbase.resources.members import repository
from moonbase.resources.members.schemas import ROLES
from moonbase.resources.users.service import Caller


def _is_last_admin(session: Session, membership: Membership) -> bool:
    admins = repository.admin_ids(session, membership.organization_id)
    return membership.role == "admin" and admins == [membership.id]


def update_role(session: Session, membership: Membership, role: str, caller: Caller) -> None:
    if role not in ROLES:
        raise Unprocessable(f"Unknown role '{role}': use one of {', '.join(ROLES)}")
    if caller.is_user(membership.user_id):
        raise Unprocessable("You cannot change your own role")
    if not caller.admin:
        raise Forbidden("Only an admin of the organization can change a member's role")
    if membership.role == role:
        return
    if _is_last_admin(session, membership):
        raise Unprocessable(
            "The last admin of an organization cannot be demoted: make another member an "
            "admin first"
        )
    membership.role = role
    session.flush()


def remove(
    session: Session,
    org: Organization,
    membership: Membership,
    caller: Caller,
    *,
    delete_passwords: bool = False,
    delete_service_tokens: bool = False,
) -> bool:
    """Remove the member; True when passwords were deleted (the reconciler drops them)."""
    user_id = membership.user_id
    if caller.is_user(user_id):
        if delete_passwords or delete_service_tokens:
            raise Unprocessable(
                "delete_passwords and delete_service_tokens are only available when removing "
                "other members"
            )
        if repository.organization_count(session, user_id) <= 1:
            raise Unprocessable("You cannot leave your only organization")
    elif not caller.admin:
        raise Forbidden("Only an admin of the organization can remove other members")
    if _is_last_admin(session, membership):
        raise Unprocessable(
            "The last admin of an organization cannot be removed: make another member an "
            "admin first"
        )

    tokens = list(
        session.scalars(
            select(OAuthToken.id).where(
                OAuthToken.organization_id == org.id, OAuthToken.user_id == user_id
            )
        )
    )
    passwords = _passwords_created_by(session, org.id, tokens) if delete_passwords else []
    for cred in passwords:
        credentials.delete(session, cred)
    # delete_service_tokens: a Moonbase service token belongs to the organization, not to
    # the member who made it, so there is none of theirs to delete
    now = utcnow()
    # expired rather than deleted: whatever else refers to a token stays consistent
    session.execute(
        update(OAuthToken)
        .where(
            OAuthToken.id.in_(tokens),
            or_(OAuthToken.expires_at.is_(None), OAuthToken.expires_at > now),
        )
        .values(expires_at=now)
    )
    session.execute(
        delete(TeamMembership).where(
            TeamMembership.user_id == user_id,
            TeamMembership.team_id.in_(select(Team.id).where(Team.organization_id == org.id)),
        )
    )
    session.delete(membership)
    session.flush()
    return bool(passwords)


def _passwords_created_by(
    session: Session, organization_id: str, token_ids: list[str]
) -> list[Credential]:
    if not token_ids:
        return []
    return list(
        session.scalars(
            select(Credential)
            .join(Branch, Branch.id == Credential.branch_id)
            .join(Database, Database.id == Branch.database_id)
            .where(
                Database.organization_id == organization_id,
                Credential.actor_id.in_(token_ids),
                Credential.deleted_at.is_(None),
                Credential.is_default.is_(False),
            )
        )
    )
