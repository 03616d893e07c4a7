"""The reconciler: compares desired with observed state and acts until they match.

One thread wakes up when the API says there is work (or every few seconds), finds the branches
that need something, and hands each to a worker pool; a branch is worked on by at most one
worker at a time (in this process through ``_busy``, across processes through a lease row).
Each attempt ends with a one-line verdict stored on the branch. Failures are retried with
backoff; a permanent failure is retried rarely.

What a branch may need, in order:

* desired absent                       -> stop its servers, remove files, delete its rows
* desired present, not ready           -> converge (start / adopt primary and replicas)
* ready, health check due              -> if a server is gone, back to pending
* ready, credentials waiting           -> create / drop logins, drop expired ones
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update

from moonbase.ids import utcnow
from moonbase.models import Branch, BranchState, Credential, Database, Desired, Instance
from moonbase.notify import Notifier
from moonbase.provisioners.base import PermanentFailure, Provisioner, TemporaryFailure
from moonbase.reconciler.outcomes import PERMANENT_DELAY, backoff
from moonbase.reconciler.plans import credential_plan, plan_for
from moonbase.store.db import Store

log = logging.getLogger(__name__)

#: a lease is renewed at every progress line; a dead process's leases lapse after this
LEASE = timedelta(seconds=45)
Clock = Callable[[], datetime]


class Reconciler:
    def __init__(
        self,
        store: Store,
        provisioner: Provisioner,
        notifier: Notifier,
        *,
        interval: float = 2.0,
        health_interval: float = 5.0,
        workers: int = 8,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.provisioner = provisioner
        self.notifier = notifier
        self.interval = interval
        self.health_interval = timedelta(seconds=health_interval)
        self.clock = clock
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="moonbase-work")
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._checked: dict[str, datetime] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        notifier.on_wake(self._wake.set)

    # --- running ----------------------------------------------------------------------
    def start(self) -> None:
        if self.store.single_process:
            self.release_all_leases()
        self._thread = threading.Thread(target=self._run, name="moonbase-reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.dispatch()
            except Exception:  # noqa: BLE001 - the loop must survive a bad pass
                log.exception("reconcile pass failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    def dispatch(self) -> list[str]:
        """Start work on every branch that needs it; return their ids."""
        due = self.due_branches()
        started = []
        for branch_id in due:
            with self._busy_lock:
                if branch_id in self._busy:
                    continue
                self._busy.add(branch_id)
            started.append(branch_id)
            self._pool.submit(self._work_guarded, branch_id)
        return started

    def _work_guarded(self, branch_id: str) -> None:
        try:
            if self._claim(branch_id):
                try:
                    self.work(branch_id)
                finally:
                    self._release(branch_id)
        except Exception:  # noqa: BLE001 - recorded on the branch by work(); never kill a worker
            log.exception("work on branch %s failed", branch_id)
        finally:
            with self._busy_lock:
                self._busy.discard(branch_id)
            # a finished attempt may have unblocked more work (or a waiting API call)
            self._wake.set()

    # --- choosing work ----------------------------------------------------------------
    def due_branches(self) -> list[str]:
        now = self.clock()
        with self.store.tx() as s:
            pending_creds = select(Credential.branch_id).where(
                or_(
                    Credential.deleted_at.is_not(None),
                    Credential.applied_at.is_(None) & Credential.expires_at.is_(None),
                    Credential.applied_at.is_(None) & (Credential.expires_at > now),
                    Credential.applied_at.is_not(None) & (Credential.expires_at <= now),
                )
            )
            rows = s.execute(
                select(Branch.id, Branch.desired, Branch.state, Branch.next_attempt_at)
            ).all()
            with_creds = set(s.scalars(pending_creds))
        due = []
        for branch_id, desired, state, next_at in rows:
            waiting = next_at is not None and next_at > now
            if desired == Desired.ABSENT or state != BranchState.READY:
                if not waiting:
                    due.append(branch_id)
            elif (
                branch_id in with_creds
                and not waiting
                or now - self._checked.get(branch_id, datetime.min) >= self.health_interval
            ):
                due.append(branch_id)
        return due

    def _claim(self, branch_id: str) -> bool:
        now = self.clock()
        with self.store.tx() as s:
            result = s.execute(
                update(Branch)
                .where(
                    Branch.id == branch_id,
                    or_(
                        Branch.lease_owner.is_(None),
                        Branch.lease_owner == self.owner,
                        Branch.lease_until < now,
                    ),
                )
                .values(lease_owner=self.owner, lease_until=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _release(self, branch_id: str) -> None:
        with self.store.tx() as s:
            s.execute(
                update(Branch)
                .where(Branch.id == branch_id, Branch.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )

    # --- doing work -------------------------------------------------------------------
    def work(self, branch_id: str) -> None:
        with self.store.tx() as s:
            branch = s.get(Branch, branch_id)
            if branch is None:
                return
            db = s.get(Database, branch.database_id)
            assert db is not None
            absent = branch.desired == Desired.ABSENT
            plan = plan_for(s, branch, db, self.provisioner, reserve=not absent)
            state = branch.state
        try:
            if absent:
                self._verdict(branch_id, "stopping servers and removing files")
                self.provisioner.destroy(plan)
                self._forget(branch_id)
                return
            if state == BranchState.READY:
                self._checked[branch_id] = self.clock()
                problem = self.provisioner.problem(plan)
                if problem:
                    self._back_to_pending(branch_id, problem)
                    return
            else:
                self.provisioner.converge(plan, lambda line: self._verdict(branch_id, line))
            self._credentials(branch_id, plan)
            if state != BranchState.READY:
                self._ready(branch_id)
        except PermanentFailure as exc:
            self._failed(branch_id, str(exc), permanent=True)
        except (TemporaryFailure, Exception) as exc:  # noqa: BLE001 - every failure is recorded
            self._failed(branch_id, str(exc) or type(exc).__name__, permanent=False)

    def _credentials(self, branch_id: str, plan) -> None:  # type: ignore[no-untyped-def]
        now = self.clock()
        with self.store.tx() as s:
            creds = list(s.scalars(select(Credential).where(Credential.branch_id == branch_id)))
        changed = False
        for cred in creds:
            expired = cred.expires_at is not None and cred.expires_at <= now
            if cred.deleted_at is not None:
                self.provisioner.drop_credential(plan, cred.username)
                with self.store.tx() as s:
                    s.execute(delete(Credential).where(Credential.id == cred.id))
                changed = True
            elif expired and cred.applied_at is not None:
                self.provisioner.drop_credential(plan, cred.username)
                self._set_applied(cred.id, None)
                changed = True
            elif not expired and cred.applied_at is None:
                self.provisioner.apply_credential(plan, credential_plan(cred))
                self._set_applied(cred.id, self.clock())
                changed = True
        if changed:
            self.notifier.applied()

    def _set_applied(self, credential_id: str, when: datetime | None) -> None:
        with self.store.tx() as s:
            s.execute(
                update(Credential).where(Credential.id == credential_id).values(applied_at=when)
            )

    # --- recording outcomes -----------------------------------------------------------
    def _update(self, branch_id: str, **values: object) -> None:
        with self.store.tx() as s:
            s.execute(update(Branch).where(Branch.id == branch_id).values(**values))

    def _verdict(self, branch_id: str, line: str) -> None:
        log.info("branch %s: %s", branch_id, line)
        self._update(branch_id, verdict=line, lease_until=self.clock() + LEASE)

    def release_all_leases(self) -> None:
        """At start, when this process is known to be the only one (SQLite store): leases of a
        previous process that was killed are void."""
        with self.store.tx() as s:
            s.execute(update(Branch).values(lease_owner=None, lease_until=None))

    def _ready(self, branch_id: str) -> None:
        now = self.clock()
        self._checked[branch_id] = now
        self._update(
            branch_id,
            state=BranchState.READY,
            ready_at=now,
            verdict="ready: every server answers and every replica streams",
            failure=None,
            failed_permanently=False,
            attempts=0,
            next_attempt_at=None,
        )

    def _back_to_pending(self, branch_id: str, problem: str) -> None:
        self._update(
            branch_id, state=BranchState.PENDING, verdict=f"recovering: {problem}", failure=problem
        )
        self._wake.set()

    def _failed(self, branch_id: str, reason: str, permanent: bool) -> None:
        log.warning(
            "branch %s failed (%s): %s",
            branch_id,
            "permanent" if permanent else "will retry",
            reason,
        )
        with self.store.tx() as s:
            branch = s.get(Branch, branch_id)
            if branch is None:
                return
            branch.attempts += 1
            delay = timedelta(seconds=PERMANENT_DELAY) if permanent else backoff(branch.attempts)
            branch.next_attempt_at = self.clock() + delay
            branch.failure = reason
            branch.failed_permanently = permanent
            branch.verdict = (
                f"failed ({'permanent' if permanent else f'attempt {branch.attempts}'}): {reason}; "
                f"next attempt in {delay.total_seconds():.0f} s"
            )

    def _forget(self, branch_id: str) -> None:
        """The branch's servers are gone: remove its rows, and its database once empty."""
        self._checked.pop(branch_id, None)
        with self.store.tx() as s:
            branch = s.get(Branch, branch_id)
            if branch is None:
                return
            database_id = branch.database_id
            s.execute(delete(Credential).where(Credential.branch_id == branch_id))
            s.execute(delete(Instance).where(Instance.branch_id == branch_id))
            s.delete(branch)
            s.flush()
            remaining = s.scalar(
                select(func.count()).select_from(Branch).where(Branch.database_id == database_id)
            )
            db = s.get(Database, database_id)
            if not remaining and db is not None and db.deleted_at is not None:
                s.delete(db)
