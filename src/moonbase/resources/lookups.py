"""Loading resources by the names used in URLs; a missing one is a 404."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from moonbase.errors import NotFound
from moonbase.models import Branch, Database, Desired, Organization


def organization_missing(name: str) -> str:
    return f"Organization '{name}' was not found"


def organization(session: Session, name: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        raise NotFound(organization_missing(name))
    return org


def database(session: Session, organization_id: str, name: str) -> Database:
    db = session.scalar(
        select(Database).where(
            Database.organization_id == organization_id,
            Database.name == name,
            Database.deleted_at.is_(None),
        )
    )
    if db is None:
        raise NotFound(f"Database '{name}' was not found")
    return db


def branch(session: Session, database_id: str, name: str) -> Branch:
    found = session.scalar(
        select(Branch).where(
            Branch.database_id == database_id,
            Branch.name == name,
            Branch.desired == Desired.PRESENT,
        )
    )
    if found is None:
        raise NotFound(f"Branch '{name}' was not found")
    return found
