"""The reconciler: compares desired with observed state and acts until they match.

One thread wakes up when the API says there is work (or every few seconds), finds the branches
that need something, and hands each to a worker pool; a branch is worked on by at most one
worker at a time (in this process through ``_busy``, across processes through a lease row).
Each attempt ends with a one-line verdict stored on the branch. Failures are retried with
backoff; a permanent failure is retried rarely.

What a branch may need, in order:

* desired absent                       -> stop its servers, remove files, delete its rows
* desired present, not ready           -> converge (start / adopt primary and replicas)
* ready, credentials waiting           -> create / drop logins, drop expired ones
* ready, schema snapshot asked for     -> read the schema again
* ready, health check due              -> if a server is gone, back to pending
* ready, schema snapshot old (1 min)   -> read the schema again

A ready branch that needs nothing but the last two is not taken (no lease, no attempt): all of
them are looked at in one batch with a single read of the store, and only a branch with a
problem gets a full attempt. An idle installation's cost thus grows with its branch count by
one cheap provisioner check per branch every ``health_interval`` and one schema read (and one
write) per branch a minute.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from moonbase.ids import utcnow
from moonbase.models import Branch, BranchState, Credential, Desired, SchemaSnapshot
from moonbase.notify import Notifier
from moonbase.provisioners.base import Provisioner
from moonbase.reconciler.branches import SCHEMA_MAX_AGE, BranchWork
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
        self._checking = False  # a health check batch is running (guarded by _busy_lock)
        self._busy_lock = threading.Lock()
        self.branches = BranchWork(
            store, provisioner, notifier, clock, on_progress=self._renew_lease
        )
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
        """Start work on every branch that needs it, and the health check of those that only
        need that; return the ids of the branches taken for work."""
        due, health, stale = self._due()
        started = [branch_id for branch_id in due if self._start(branch_id)]
        with self._busy_lock:
            look = bool(health or stale) and not self._checking
            self._checking = self._checking or look
        if look:
            self._pool.submit(self._check_guarded, health, stale)
        return started

    def _start(self, branch_id: str) -> bool:
        with self._busy_lock:
            if branch_id in self._busy:
                return False
            self._busy.add(branch_id)
        self._pool.submit(self._work_guarded, branch_id)
        return True

    def _check_guarded(self, health: list[str], stale: list[str]) -> None:
        try:
            for branch_id in self.branches.troubled(health, stale):
                self._start(branch_id)
        except Exception:  # noqa: BLE001 - the next pass checks again
            log.exception("health check pass failed")
        finally:
            with self._busy_lock:
                self._checking = False

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
        """Every branch that needs something, a health check included."""
        due, health, stale = self._due()
        return due + sorted(set(health) | set(stale))

    def _due(self) -> tuple[list[str], list[str], list[str]]:
        """(branches that need an attempt, ready branches that need only a health check,
        ready branches that need only a new schema snapshot): the last two get the light
        pass."""
        now = self.clock()
        with self.store.tx() as s:
            pending_creds = select(Credential.branch_id).where(
                or_(
                    Credential.deleted_at.is_not(None),
                    Credential.reassign_to.is_not(None),
                    Credential.applied_at.is_(None) & Credential.expires_at.is_(None),
                    Credential.applied_at.is_(None) & (Credential.expires_at > now),
                    Credential.applied_at.is_not(None) & (Credential.expires_at <= now),
                )
            )
            with_creds = set(s.scalars(pending_creds))
            rows = s.execute(
                select(
                    Branch.id,
                    Branch.desired,
                    Branch.state,
                    Branch.next_attempt_at,
                    Branch.safe_migrations,
                    Branch.safe_migrations_applied,
                    Branch.schema_refresh_requested_at,
                    SchemaSnapshot.taken_at,
                ).outerjoin(SchemaSnapshot, SchemaSnapshot.branch_id == Branch.id)
            ).all()
        due: list[str] = []
        health: list[str] = []
        stale: list[str] = []
        for branch_id, desired, state, next_at, safe, safe_applied, asked, taken in rows:
            if next_at is not None and next_at > now:
                continue  # backing off after a failure
            if (
                desired == Desired.ABSENT
                or state != BranchState.READY
                or branch_id in with_creds
                or safe != safe_applied
                or taken is None
                or (asked is not None and asked >= taken)
            ):
                due.append(branch_id)
                continue
            if now - self.branches.checked.get(branch_id, datetime.min) >= self.health_interval:
                health.append(branch_id)
            if now - taken >= SCHEMA_MAX_AGE:
                stale.append(branch_id)
        return due, health, stale

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
                .values(
                    lease_owner=self.owner, lease_until=now + LEASE, updated_at=Branch.updated_at
                )
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _release(self, branch_id: str) -> None:
        with self.store.tx() as s:
            s.execute(
                update(Branch)
                .where(Branch.id == branch_id, Branch.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None, updated_at=Branch.updated_at)
                .execution_options(synchronize_session=False)
            )

    # --- doing work -------------------------------------------------------------------
    def work(self, branch_id: str) -> None:
        self.branches.run(branch_id)

    def _renew_lease(self, _branch_id: str) -> dict[str, object]:
        """Every progress line also extends the lease of the branch being worked on."""
        return {"lease_until": self.clock() + LEASE}

    def release_all_leases(self) -> None:
        """At start, when this process is known to be the only one (SQLite store): leases of a
        previous process that was killed are void."""
        with self.store.tx() as s:
            s.execute(
                update(Branch).values(
                    lease_owner=None, lease_until=None, updated_at=Branch.updated_at
                )
            )
