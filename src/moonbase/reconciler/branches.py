"""One reconcile attempt on one branch, step by step, each step idempotent.

Order of the steps of a present branch:

1. servers      converge primary and replicas (when not ready, or after a health problem)
2. schema copy  a new development branch gets its parent's schema, once
3. safe migrations   make the servers enforce what the branch says
4. credentials  create, update, drop and expire logins
5. schema       a fresh snapshot when asked for or when the last one is old
6. ready        record it (only after every step above held)

An absent branch is torn down: servers stopped, files removed, rows deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from moonbase.ids import utcnow
from moonbase.models import (
    Branch,
    BranchState,
    Credential,
    Database,
    Desired,
    Instance,
    SchemaSnapshot,
    ServiceTokenAccess,
)
from moonbase.notify import Notifier
from moonbase.provisioners.base import (
    BranchPlan,
    PermanentFailure,
    Provisioner,
    TemporaryFailure,
)
from moonbase.reconciler.outcomes import PERMANENT_DELAY, backoff
from moonbase.reconciler.plans import credential_plan, plan_for
from moonbase.store.db import Store

log = logging.getLogger(__name__)

#: a ready branch's schema is read again at least this often (and on request)
SCHEMA_MAX_AGE = timedelta(seconds=60)
Clock = Callable[[], datetime]


class BranchWork:
    def __init__(
        self,
        store: Store,
        provisioner: Provisioner,
        notifier: Notifier,
        clock: Clock = utcnow,
        on_progress: Callable[[str], dict[str, object]] | None = None,
    ) -> None:
        self.store = store
        self.provisioner = provisioner
        self.notifier = notifier
        self.clock = clock
        self.on_progress = on_progress
        #: when each ready branch's servers were last checked
        self.checked: dict[str, datetime] = {}
        #: called in the transaction that first marks a branch ready (webhooks queue
        #: ``branch.ready`` there; set by create_app)
        self.on_ready: Callable[[Session, str], None] | None = None

    def run(self, branch_id: str) -> None:
        with self.store.tx() as s:
            branch = s.get(Branch, branch_id)
            if branch is None:
                return
            db = s.get(Database, branch.database_id)
            assert db is not None
            absent = branch.desired == Desired.ABSENT
            plan = plan_for(s, branch, db, self.provisioner, reserve=not absent)
            parent = self._parent_plan(s, branch, db) if branch.schema_copied_at is None else None
            state = branch.state
        try:
            if absent:
                self.verdict(branch_id, "stopping servers and removing files")
                self.provisioner.destroy(plan)
                self._forget(branch_id)
                return
            if state == BranchState.READY:
                self.checked[branch_id] = self.clock()
                problem = self.provisioner.problem(plan)
                if problem:
                    self._back_to_pending(branch_id, problem)
                    return
            else:
                self.provisioner.converge(plan, lambda line: self.verdict(branch_id, line))
                if plan.kind == "postgresql":
                    self._access_rules(branch_id, plan)  # new servers start without them
            if parent is not None:
                self.verdict(branch_id, "copying the parent branch's schema")
                self.provisioner.copy_schema(parent, plan)
                self._update(branch_id, schema_copied_at=self.clock())
            self._safe_migrations(branch_id, plan)
            self._credentials(branch_id, plan)
            self._schema(branch_id, plan, force=state != BranchState.READY)
            if state != BranchState.READY:
                self._ready(branch_id)
        except PermanentFailure as exc:
            self._failed(branch_id, str(exc), permanent=True)
        except (TemporaryFailure, Exception) as exc:  # noqa: BLE001 - every failure is recorded
            if not isinstance(exc, TemporaryFailure):
                log.exception("unexpected failure on branch %s", branch_id)
            self._failed(branch_id, str(exc) or type(exc).__name__, permanent=False)

    def troubled(self, check: Collection[str], refresh: Collection[str] = ()) -> list[str]:
        """The light pass over ready branches that need nothing else, without taking them:
        one read of the store for all their plans, then the provisioner's health check of
        those in ``check`` and a new schema snapshot of those in ``refresh`` (an old one).
        Returns the branches with a problem (or whose schema could not be read), for a full
        attempt, which records it and recovers."""
        check, refresh = set(check), set(refresh)
        wanted = check | refresh
        with self.store.tx() as s:
            branches = list(
                s.scalars(
                    select(Branch).where(
                        Branch.id.in_(wanted),
                        Branch.desired == Desired.PRESENT,
                        Branch.state == BranchState.READY,
                    )
                )
            )
            dbs = {
                d.id: d
                for d in s.scalars(
                    select(Database).where(Database.id.in_({b.database_id for b in branches}))
                )
            }
            plans = [plan_for(s, b, dbs[b.database_id], self.provisioner, False) for b in branches]
        found = []
        for plan in plans:
            try:
                problem = None
                if plan.branch_id in check:
                    self.checked[plan.branch_id] = self.clock()
                    problem = self.provisioner.problem(plan)
                if problem is None and plan.branch_id in refresh:
                    self._schema(plan.branch_id, plan, force=False)
            except Exception:  # noqa: BLE001 - a failing look is a problem to look into
                log.exception("light pass over branch %s failed", plan.branch_id)
                problem = "the health check or the schema read failed"
            if problem:
                log.info("branch %s: %s", plan.branch_id, problem)
                found.append(plan.branch_id)
        return found

    # --- steps --------------------------------------------------------------------------
    def _parent_plan(self, s: Any, branch: Branch, db: Database) -> BranchPlan | None:
        if branch.parent_branch is None:
            return None
        parent = s.scalar(
            select(Branch).where(
                Branch.database_id == db.id,
                Branch.name == branch.parent_branch,
                Branch.desired == Desired.PRESENT,
            )
        )
        if parent is None:
            raise PermanentFailure(f"the parent branch '{branch.parent_branch}' is gone")
        if parent.state != BranchState.READY:
            raise TemporaryFailure(f"waiting for the parent branch '{parent.name}' to be ready")
        return plan_for(s, parent, db, self.provisioner, reserve=False)

    def _safe_migrations(self, branch_id: str, plan: BranchPlan) -> None:
        with self.store.tx() as s:
            branch = s.get(Branch, branch_id)
            assert branch is not None
            wanted, applied = branch.safe_migrations, branch.safe_migrations_applied
        if wanted == applied:
            return
        self.verdict(branch_id, f"turning safe migrations {'on' if wanted else 'off'}")
        self.provisioner.set_safe_migrations(plan, wanted)
        if plan.kind == "mysql":
            # MySQL withholds DDL through each login's grants: apply them all again, before
            # the change counts as applied
            with self.store.tx() as s:
                s.execute(
                    update(Credential)
                    .where(Credential.branch_id == branch_id, Credential.deleted_at.is_(None))
                    .values(applied_at=None, updated_at=Credential.updated_at)
                )
            self._credentials(branch_id, plan)
        with self.store.tx() as s:
            s.execute(
                update(Branch)
                .where(Branch.id == branch_id)
                .values(safe_migrations_applied=wanted, updated_at=Branch.updated_at)
            )
        self.notifier.applied()

    def _credentials(self, branch_id: str, plan: BranchPlan) -> None:
        now = self.clock()
        with self.store.tx() as s:
            creds = list(s.scalars(select(Credential).where(Credential.branch_id == branch_id)))
            branch = s.get(Branch, branch_id)
            ddl = not (branch is not None and branch.safe_migrations)
        work = [c for c in creds if self._needs_work(c, now)]
        if not work:
            return
        if plan.kind == "postgresql":
            # client rules first, so a login is never usable before its networks are set
            self._access_rules(branch_id, plan)
        for cred in work:
            expired = cred.expires_at is not None and cred.expires_at <= now
            if cred.deleted_at is not None:
                if cred.kind == "role" and not self._drop_owned(cred, plan, cred.successor):
                    continue
                self.provisioner.drop_credential(plan, cred.username)
                with self.store.tx() as s:
                    s.execute(delete(Credential).where(Credential.id == cred.id))
            elif cred.reassign_to is not None:
                self.provisioner.reassign_owned(plan, cred.username, cred.reassign_to)
                with self.store.tx() as s:
                    s.execute(
                        update(Credential)
                        .where(Credential.id == cred.id)
                        .values(reassign_to=None, updated_at=Credential.updated_at)
                    )
            elif expired:
                # an expired role's objects stay, owned by the branch's owner role
                if cred.kind == "role":
                    self.provisioner.drop_owned(plan, cred.username, "postgres")
                self.provisioner.drop_credential(plan, cred.username)
                self._set_applied(cred.id, None)
            else:
                if not (cred.is_default and not cred.verifier):  # no password set yet
                    self.provisioner.apply_credential(plan, credential_plan(cred, ddl=ddl))
                self._set_applied(cred.id, self.clock())
        self.notifier.applied()

    @staticmethod
    def _needs_work(cred: Credential, now: datetime) -> bool:
        expired = cred.expires_at is not None and cred.expires_at <= now
        if cred.deleted_at is not None or cred.reassign_to is not None:
            return True
        return (cred.applied_at is not None) if expired else (cred.applied_at is None)

    def _access_rules(self, branch_id: str, plan: BranchPlan) -> None:
        """PostgreSQL keeps client rules per server: rewrite them from every live role."""
        with self.store.tx() as s:
            rows = s.execute(
                select(Credential.username, Credential.cidrs).where(
                    Credential.branch_id == branch_id,
                    Credential.kind == "role",
                    Credential.deleted_at.is_(None),
                )
            ).all()
        self.provisioner.set_access_rules(plan, {u: tuple(c) for u, c in rows if c})

    def _drop_owned(self, cred: Credential, plan: BranchPlan, successor: str | None) -> bool:
        """Objects of a role being deleted go to its successor; without one, a role that owns
        objects is not dropped and the deletion is called off with the reason."""
        try:
            self.provisioner.drop_owned(plan, cred.username, successor)
        except PermanentFailure as exc:
            with self.store.tx() as s:
                s.execute(
                    update(Credential)
                    .where(Credential.id == cred.id)
                    .values(deleted_at=None, successor=None, drop_error=str(exc))
                )
            return False
        return True

    def _set_applied(self, credential_id: str, when: datetime | None) -> None:
        with self.store.tx() as s:
            s.execute(
                update(Credential)
                .where(Credential.id == credential_id)
                .values(applied_at=when, updated_at=Credential.updated_at)
            )

    def _schema(self, branch_id: str, plan: BranchPlan, force: bool) -> None:
        now = self.clock()
        with self.store.tx() as s:
            branch = s.get(Branch, branch_id)
            snapshot = s.get(SchemaSnapshot, branch_id)
            assert branch is not None
            asked = branch.schema_refresh_requested_at
        due = (
            force
            or snapshot is None
            or now - snapshot.taken_at >= SCHEMA_MAX_AGE
            or (asked is not None and asked >= snapshot.taken_at)
        )
        if not due:
            return
        tables = self.provisioner.tables(plan)
        tables.sort(key=lambda t: (t.get("namespace") or "", t["name"]))
        fingerprint = hashlib.sha256(
            json.dumps(tables, sort_keys=True, default=str).encode()
        ).hexdigest()
        with self.store.tx() as s:
            branch = s.get(Branch, branch_id)
            assert branch is not None
            snapshot = s.get(SchemaSnapshot, branch_id)
            changed = snapshot is None or snapshot.fingerprint != fingerprint
            if snapshot is None:
                snapshot = SchemaSnapshot(branch_id=branch_id)
                s.add(snapshot)
            snapshot.tables = tables
            snapshot.fingerprint = fingerprint
            snapshot.taken_at = now
            branch.table_count = len(tables)
            if changed and (tables or branch.schema_last_updated_at is not None):
                branch.schema_last_updated_at = now
                db = s.get(Database, branch.database_id)
                if db is not None and db.default_branch == branch.name:
                    db.schema_last_updated_at = now
        self.notifier.applied()

    # --- recording outcomes -----------------------------------------------------------
    def _update(self, branch_id: str, **values: object) -> None:
        """Record what the reconciler saw; ``updated_at`` stays the time of the last change
        a user made (it is not bumped by bookkeeping)."""
        values.setdefault("updated_at", Branch.updated_at)
        with self.store.tx() as s:
            s.execute(update(Branch).where(Branch.id == branch_id).values(**values))

    def verdict(self, branch_id: str, line: str) -> None:
        log.info("branch %s: %s", branch_id, line)
        extra = self.on_progress(branch_id) if self.on_progress else {}
        self._update(branch_id, verdict=line, **extra)

    def _ready(self, branch_id: str) -> None:
        now = self.clock()
        self.checked[branch_id] = now
        with self.store.tx() as s:
            first = s.scalar(select(Branch.ready_at).where(Branch.id == branch_id)) is None
            s.execute(
                update(Branch)
                .where(Branch.id == branch_id)
                .values(
                    state=BranchState.READY,
                    ready_at=now,
                    verdict="ready: every server answers and every replica streams",
                    failure=None,
                    failed_permanently=False,
                    attempts=0,
                    next_attempt_at=None,
                    updated_at=Branch.updated_at,
                )
            )
            if first and self.on_ready is not None:
                self.on_ready(s, branch_id)

    def _back_to_pending(self, branch_id: str, problem: str) -> None:
        self._update(
            branch_id, state=BranchState.PENDING, verdict=f"recovering: {problem}", failure=problem
        )

    def _failed(self, branch_id: str, reason: str, permanent: bool) -> None:
        kind = "permanent" if permanent else "will retry"
        log.warning("branch %s failed (%s): %s", branch_id, kind, reason)
        with self.store.tx() as s:
            attempts = s.scalar(select(Branch.attempts).where(Branch.id == branch_id))
        if attempts is None:
            return
        attempts += 1
        delay = timedelta(seconds=PERMANENT_DELAY) if permanent else backoff(attempts)
        attempt = "permanent" if permanent else f"attempt {attempts}"
        self._update(
            branch_id,
            attempts=attempts,
            next_attempt_at=self.clock() + delay,
            failure=reason,
            failed_permanently=permanent,
            verdict=f"failed ({attempt}): {reason}; next attempt in {delay.total_seconds():.0f} s",
        )
        self.notifier.applied()

    def _forget(self, branch_id: str) -> None:
        """The branch's servers are gone: remove its rows, and its database once empty."""
        self.checked.pop(branch_id, None)
        with self.store.tx() as s:
            branch = s.get(Branch, branch_id)
            if branch is None:
                return
            database_id = branch.database_id
            s.execute(delete(Credential).where(Credential.branch_id == branch_id))
            s.execute(delete(Instance).where(Instance.branch_id == branch_id))
            s.execute(delete(SchemaSnapshot).where(SchemaSnapshot.branch_id == branch_id))
            s.delete(branch)
            s.flush()
            remaining = s.scalar(
                select(func.count()).select_from(Branch).where(Branch.database_id == database_id)
            )
            db = s.get(Database, database_id)
            if not remaining and db is not None and db.deleted_at is not None:
                # accesses granted on this database grant nothing any more
                s.execute(
                    delete(ServiceTokenAccess).where(
                        ServiceTokenAccess.resource_type == "Database",
                        ServiceTokenAccess.resource_id == database_id,
                    )
                )
                s.delete(db)
