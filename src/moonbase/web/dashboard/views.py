"""What the dashboard shows a signed-in person, read from the store.

A person sees an organization only if they are a member of it (either role). In it they see
what any member may read: members may grant an application the scopes that read databases,
branches, schemas and credentials (only creating and deleting databases, changing the
organization and its people, and invoices are for administrators), so every page here is open
to members and administrators alike. An organization they are not in, and a database or
branch that does not exist, are the same :class:`NotFound`, so a page never tells which.

Nothing here writes: a page shows the schema the reconciler last read (``SchemaSnapshot``);
the endpoints ask for a fresh one first when it is old.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from moonbase.errors import NotFound
from moonbase.models import (
    Branch,
    Credential,
    Database,
    Membership,
    Organization,
    SchemaSnapshot,
    User,
)
from moonbase.resources import lookups
from moonbase.resources.branches import repository as branches
from moonbase.resources.branches.schemas import branch_json
from moonbase.resources.credentials import repository as credentials
from moonbase.resources.databases.schemas import database_json
from moonbase.resources.oauth import repository
from moonbase.schema.lint import LintError, lint
from moonbase.settings import Settings

#: credentials listed on a branch page (the rest are counted)
CREDENTIALS_SHOWN = 200


@dataclass(frozen=True)
class OrganizationView:
    organization: Organization
    #: each live database with the API's JSON of it (state, region ...)
    databases: list[tuple[Database, dict[str, Any]]]


@dataclass(frozen=True)
class DatabaseView:
    organization: Organization
    database: Database
    #: the API's JSON of the database
    info: dict[str, Any]
    branches: list[Branch]


@dataclass(frozen=True)
class BranchView:
    organization: Organization
    database: Database
    branch: Branch
    #: the API's JSON of the branch (status, servers' addresses ...)
    info: dict[str, Any]
    #: the tables of the reconciler's last look at the schema (None: it has not looked yet)
    tables: list[dict[str, Any]] | None
    schema_taken_at: datetime | None
    problems: list[LintError]
    credentials: list[Credential]
    credential_count: int


def organizations_of(db: Session, user: User) -> list[tuple[Organization, str]]:
    """The organizations ``user`` is a member of, with their role, by name."""
    rows = db.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user.id)
        .order_by(Organization.name)
    )
    return [(org, role) for org, role in rows]


def _organization(db: Session, user: User, name: str) -> Organization:
    org = lookups.organization(db, name)
    if repository.role(db, org.id, user.id) is None:
        raise NotFound(lookups.organization_missing(name))
    return org


def organization(db: Session, settings: Settings, user: User, name: str) -> OrganizationView:
    org = _organization(db, user, name)
    dbs = repository.databases(db, org.id)
    by_db: dict[str, list[Branch]] = {d.id: [] for d in dbs}
    for branch in repository.branches(db, list(by_db)):
        by_db[branch.database_id].append(branch)
    return OrganizationView(
        org, [(d, database_json(d, org, by_db[d.id], settings)) for d in dbs]
    )


def database(
    db: Session, settings: Settings, user: User, org_name: str, name: str
) -> DatabaseView:
    org = _organization(db, user, org_name)
    found = lookups.database(db, org.id, name)
    rows = repository.branches(db, [found.id])
    return DatabaseView(org, found, database_json(found, org, rows, settings), rows)


def branch(
    db: Session, settings: Settings, user: User, org_name: str, db_name: str, name: str
) -> BranchView:
    org = _organization(db, user, org_name)
    found_db = lookups.database(db, org.id, db_name)
    found = lookups.branch(db, found_db.id, name)
    ports = branches.ports(db, [found.id])[found.id]
    snapshot = db.get(SchemaSnapshot, found.id)
    tables = list(snapshot.tables) if snapshot is not None else None
    keyspace = found_db.schema_name if found_db.kind == "mysql" else ""
    kind = "password" if found_db.kind == "mysql" else "role"
    shown, total = credentials.page(db, found.id, kind, 0, CREDENTIALS_SHOWN)
    return BranchView(
        organization=org,
        database=found_db,
        branch=found,
        info=branch_json(found, found_db, org, settings, ports),
        tables=tables,
        schema_taken_at=snapshot.taken_at if snapshot is not None else None,
        problems=lint(tables or [], found_db.kind, keyspace),
        credentials=shown,
        credential_count=total,
    )
