"""Rules for branches: validate, then write the desired state. Never commits, never waits."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moonbase import catalog
from moonbase.errors import Unprocessable
from moonbase.ids import utcnow
from moonbase.models import Branch, BranchState, Credential, Database, Desired
from moonbase.resources.branches.schemas import BranchCreate, BranchUpdate
from moonbase.resources.presenters import find_region
from moonbase.settings import Settings

NAME_RULE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
DEVELOPMENT_SIZE = "PS_DEV"


def check_name(name: str) -> None:
    if not NAME_RULE.fullmatch(name):
        raise Unprocessable(
            f"Branch name '{name}' is invalid: it must be 1-63 characters of lowercase letters, "
            "digits, hyphens and underscores, starting with a letter or digit"
        )


def live(session: Session, database_id: str) -> list[Branch]:
    return list(
        session.scalars(
            select(Branch).where(
                Branch.database_id == database_id, Branch.desired == Desired.PRESENT
            )
        )
    )


def development_count(session: Session, database_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Branch)
            .where(
                Branch.database_id == database_id,
                Branch.desired == Desired.PRESENT,
                Branch.production.is_(False),
            )
        )
        or 0
    )


def create(
    session: Session, db: Database, body: BranchCreate, settings: Settings, actor_id: str | None
) -> Branch:
    check_name(body.name)
    if body.backup_id is not None or body.seed_data is not None or body.restore_point is not None:
        raise Unprocessable(
            "Restoring a branch from a backup (backup_id, seed_data, restore_point) is not "
            "available yet on this installation"
        )
    if body.create_database_if_missing:
        raise Unprocessable("create_database_if_missing is not supported: create the database")
    if body.kind is not None and body.kind != db.kind:
        raise Unprocessable(f"kind '{body.kind}' does not match the database's kind {db.kind}")
    branches = live(session, db.id)
    if any(b.name == body.name for b in branches):
        raise Unprocessable(f"Name '{body.name}' has already been taken in {db.name}")
    parent_name = body.parent_branch or db.default_branch
    parent = next((b for b in branches if b.name == parent_name), None)
    if parent is None:
        raise Unprocessable(f"Parent branch '{parent_name}' does not exist")
    region = body.region or db.region
    if find_region(settings, region) is None:
        raise Unprocessable(f"Unknown region '{region}'")
    if db.restrict_branch_region and region != db.region:
        raise Unprocessable(
            f"This database keeps its branches in {db.region} (restrict_branch_region)"
        )
    if body.major_version is not None and body.major_version != db.major_version:
        raise Unprocessable(
            f"major_version must be the database's ({db.major_version}) for a branch copied "
            "from its parent"
        )
    if body.cluster_size is not None and catalog.size(body.cluster_size, db.kind) is None:
        raise Unprocessable(f"Unknown cluster_size '{body.cluster_size}' for {db.kind}")
    limit = settings.development_branch_limit
    if development_count(session, db.id) >= limit:
        raise Unprocessable(
            f"Database '{db.name}' is at its limit of {limit} development branches: "
            "delete one first"
        )
    branch = Branch(
        database_id=db.id,
        name=body.name,
        production=False,
        parent_branch=parent.name,
        region=region,
        cluster_size=DEVELOPMENT_SIZE,
        replicas=0,
        deletion_protected=bool(body.deletion_protected),
        actor_id=actor_id,
    )
    session.add(branch)
    session.flush()
    return branch


def update(session: Session, db: Database, branch: Branch, body: BranchUpdate) -> Branch:
    if body.new_name is not None and body.new_name != branch.name:
        check_name(body.new_name)
        branches = live(session, db.id)
        if any(b.name == body.new_name for b in branches):
            raise Unprocessable(f"Name '{body.new_name}' has already been taken in {db.name}")
        old = branch.name
        for child in branches:
            if child.parent_branch == old:
                child.parent_branch = body.new_name
        if db.default_branch == old:
            db.default_branch = body.new_name
        branch.name = body.new_name
    if body.deletion_protected is not None:
        branch.deletion_protected = body.deletion_protected
    branch.updated_at = utcnow()
    session.flush()
    return branch


def delete(session: Session, db: Database, branch: Branch, descendants: bool) -> list[Branch]:
    """Hide the branch (and, when asked, its descendants); the reconciler tears them down."""
    branches = live(session, db.id)
    doomed = [branch]
    if descendants:
        frontier = [branch.name]
        while frontier:
            name = frontier.pop()
            for child in branches:
                if child.parent_branch == name and child not in doomed:
                    doomed.append(child)
                    frontier.append(child.name)
    for target in doomed:
        if target.name == db.default_branch:
            raise Unprocessable(
                f"Branch '{target.name}' is the default branch of {db.name} and cannot be "
                "deleted: make another production branch the default first"
            )
        if target.deletion_protected:
            raise Unprocessable(
                f"Branch '{target.name}' is deletion protected: turn deletion_protected off first"
            )
    now = utcnow()
    for target in doomed:
        target.desired = Desired.ABSENT
        target.deleted_at = now
        target.next_attempt_at = None
        target.failed_permanently = False
        for cred in session.scalars(select(Credential).where(Credential.branch_id == target.id)):
            cred.deleted_at = cred.deleted_at or now
    session.flush()
    return doomed


def _needs_servers(branch: Branch) -> None:
    branch.state = BranchState.PENDING
    branch.next_attempt_at = None
    branch.failed_permanently = False
    branch.updated_at = utcnow()


def promote(session: Session, db: Database, branch: Branch) -> Branch:
    """A production branch: it gains the database's replicas (real ones)."""
    if branch.production:
        return branch
    branch.production = True
    if db.replicas != branch.replicas:
        branch.replicas = db.replicas
        _needs_servers(branch)
    session.flush()
    return branch


def demote(session: Session, db: Database, branch: Branch) -> Branch:
    if not branch.production:
        return branch
    others = [b for b in live(session, db.id) if b.production and b.id != branch.id]
    if not others:
        raise Unprocessable(
            f"Branch '{branch.name}' is the only production branch of {db.name}; a database "
            "keeps at least one"
        )
    if branch.name == db.default_branch:
        raise Unprocessable(
            f"Branch '{branch.name}' is the default branch: make another production branch "
            "the default first"
        )
    branch.production = False
    if branch.replicas:
        branch.replicas = 0
        _needs_servers(branch)
    session.flush()
    return branch


def set_safe_migrations(session: Session, branch: Branch, enabled: bool) -> Branch:
    branch.safe_migrations = enabled
    branch.updated_at = utcnow()
    session.flush()
    return branch


def request_schema(session: Session, branch: Branch) -> None:
    branch.schema_refresh_requested_at = utcnow()
    session.flush()
