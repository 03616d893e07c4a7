from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moonbase.models import Database, Organization
from moonbase.resources.organizations.schemas import OrganizationUpdate


def database_count(session: Session, organization_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Database)
            .where(Database.organization_id == organization_id, Database.deleted_at.is_(None))
        )
        or 0
    )


def list_for(session: Session, organization_id: str) -> list[Organization]:
    """A token belongs to one organization; that is the one it can list."""
    return list(session.scalars(select(Organization).where(Organization.id == organization_id)))


def update(session: Session, org: Organization, body: OrganizationUpdate) -> Organization:
    if body.billing_email is not None:
        org.billing_email = body.billing_email
    session.flush()
    return org
