"""Rules for databases: validate, then write the desired state. Never commits, never waits."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from moonbase import catalog
from moonbase.api.access import DATABASE_ACCESSES
from moonbase.errors import Unprocessable
from moonbase.ids import utcnow
from moonbase.models import (
    Branch,
    Database,
    Desired,
    Organization,
    ServiceToken,
    ServiceTokenAccess,
)
from moonbase.resources.databases import repository
from moonbase.resources.databases.schemas import DatabaseCreate, DatabaseUpdate
from moonbase.resources.presenters import find_region
from moonbase.settings import Settings

#: PlanetScale's rule: lowercase letters, digits, hyphens and underscores
NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_HELP = (
    "must be 1-63 characters of lowercase letters, digits, hyphens and underscores, "
    "starting with a letter or digit"
)
#: replicas of a production branch: 0 (one server) or 2 and more (high availability)
MAX_REPLICAS = 5


def check_name(name: str, what: str = "Database name") -> None:
    if not NAME_RULE.fullmatch(name):  # fullmatch: '$' would accept a trailing newline
        raise Unprocessable(f"{what} '{name}' is invalid: it {NAME_HELP}")


def _validate(
    body: DatabaseCreate, settings: Settings, offer: catalog.Offer
) -> tuple[str, str, str]:
    """Return (kind, version, region) or raise with every field's rule stated."""
    check_name(body.name)
    kind = body.kind or "mysql"
    if kind not in ("mysql", "postgresql"):
        raise Unprocessable(f"Unknown kind '{kind}': use mysql or postgresql")
    if kind not in offer.kinds():
        raise Unprocessable(
            f"Kind '{kind}' is not available on this installation (no server binaries found)"
        )
    if catalog.production_size(body.cluster_size, kind) is None:
        names = ", ".join(s.name for s in catalog.sizes_for(kind) if s.production)
        raise Unprocessable(
            f"Unknown cluster_size '{body.cluster_size}' for {kind}: choose one of {names}"
        )
    region = body.region or settings.regions[0].slug
    if find_region(settings, region) is None:
        slugs = ", ".join(r.slug for r in settings.regions)
        raise Unprocessable(f"Unknown region '{region}': choose one of {slugs}")
    replicas = body.replicas if body.replicas is not None else 0
    if replicas < 0 or replicas == 1 or replicas > MAX_REPLICAS:
        raise Unprocessable(
            f"replicas must be 0 (no high availability) or between 2 and {MAX_REPLICAS}, "
            f"got {replicas}"
        )
    if kind == "mysql":
        if body.major_version is not None:
            raise Unprocessable("major_version can only be given for postgresql databases")
        version = offer.default_version("mysql") or ""
    else:
        version = body.major_version or offer.default_version("postgresql") or ""
        available = offer.versions.get("postgresql", ())
        if version not in available:
            raise Unprocessable(
                f"PostgreSQL major_version '{version}' is not available: choose one of "
                + ", ".join(available)
            )
    storage = body.storage
    if storage is not None:
        low, high = storage.minimum_storage_bytes, storage.maximum_storage_bytes
        for label, value in (("minimum_storage_bytes", low), ("maximum_storage_bytes", high)):
            if value is not None and value <= 0:
                raise Unprocessable(f"storage.{label} must be a positive number of bytes")
        if low is not None and high is not None and low > high:
            raise Unprocessable(
                "storage.minimum_storage_bytes must not exceed storage.maximum_storage_bytes"
            )
    return kind, version, region


def create(
    session: Session,
    org: Organization,
    body: DatabaseCreate,
    settings: Settings,
    offer: catalog.Offer,
) -> Database:
    kind, version, region = _validate(body, settings, offer)
    if repository.name_taken(session, org.id, body.name):
        raise Unprocessable(f"Name '{body.name}' has already been taken in {org.name}")
    size = catalog.production_size(body.cluster_size, kind)
    assert size is not None
    replicas = body.replicas or 0
    db = Database(
        organization_id=org.id,
        name=body.name,
        schema_name=body.name if kind == "mysql" else "postgres",
        kind=kind,
        region=region,
        cluster_size=size.name,
        replicas=replicas,
        major_version=version,
        minimum_storage_bytes=body.storage.minimum_storage_bytes if body.storage else None,
        maximum_storage_bytes=body.storage.maximum_storage_bytes if body.storage else None,
    )
    session.add(db)
    session.flush()
    session.add(
        Branch(
            database_id=db.id,
            name="main",
            production=True,
            region=region,
            cluster_size=size.name,
            replicas=replicas,
        )
    )
    session.flush()
    return db


def grant_creator(session: Session, token_id: str, db: Database) -> None:
    """A service token that creates a database gets every database access on it, as on
    PlanetScale (a token limited to ``create_databases`` can use what it made)."""
    token = session.get(ServiceToken, token_id)
    if token is None:
        return
    # what the token holds on every database already covers this one: a row per database
    # would grow every later authentication (an admin token creating many databases)
    everywhere = {a.access for a in token.accesses if a.resource_type == "Organization"}
    for access in DATABASE_ACCESSES:
        if access not in everywhere:
            token.accesses.append(
                ServiceTokenAccess(access=access, resource_type="Database", resource_id=db.id)
            )
    session.flush()


def update(session: Session, db: Database, body: DatabaseUpdate) -> Database:
    if body.new_name is not None and body.new_name != db.name:
        check_name(body.new_name)
        if repository.name_taken(session, db.organization_id, body.new_name):
            raise Unprocessable(f"Name '{body.new_name}' has already been taken")
        db.name = body.new_name
    if body.default_branch is not None:
        branches = repository.branches_of(session, [db.id])[db.id]
        target = next((b for b in branches if b.name == body.default_branch), None)
        if target is None:
            raise Unprocessable(f"Branch '{body.default_branch}' does not exist")
        if not target.production:
            raise Unprocessable("Only a production branch can be the default branch")
        db.default_branch = target.name
    if body.allow_foreign_key_constraints is not None:
        db.foreign_keys_enabled = body.allow_foreign_key_constraints
    for field in (
        "automatic_migrations", "migration_framework", "migration_table_name",
        "require_approval_for_deploy", "restrict_branch_region", "allow_data_branching",
        "insights_raw_queries", "deletion_protected", "production_branch_web_console",
    ):  # fmt: skip
        value = getattr(body, field)
        if value is not None:
            setattr(db, field, value)
    db.updated_at = utcnow()
    session.flush()
    return db


def delete(session: Session, db: Database) -> None:
    """Hide the database now; the reconciler stops its servers and removes their files."""
    if db.deletion_protected:
        raise Unprocessable(
            f"Database '{db.name}' is deletion protected: turn deletion_protected off first"
        )
    now = utcnow()
    db.deleted_at = now
    for branch in repository.branches_of(session, [db.id])[db.id]:
        branch.desired = Desired.ABSENT
        branch.deleted_at = now
        branch.next_attempt_at = None
        branch.failed_permanently = False
    session.flush()
