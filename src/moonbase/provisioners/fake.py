"""A provisioner without servers, for API tests that are about the contract, not the engines.

It plugs in through the :class:`Provisioner` interface (nothing is patched) and records what
it was asked to do, so tests can assert on it.
"""

from __future__ import annotations

import threading
from typing import Any

from moonbase.catalog import Offer
from moonbase.provisioners.base import (
    BranchPlan,
    CredentialPlan,
    PermanentFailure,
    Progress,
    Provisioner,
    TemporaryFailure,
)


class FakeProvisioner(Provisioner):
    def __init__(self, versions: dict[str, tuple[str, ...]] | None = None) -> None:
        self.versions = versions or {"mysql": ("10.11",), "postgresql": ("18", "15")}
        self.running: dict[str, BranchPlan] = {}
        self.credentials: dict[str, dict[str, CredentialPlan]] = {}
        self.destroyed: list[str] = []
        #: tables per branch, as ``tables()`` returns them; tests put tables here
        self.schemas: dict[str, list[dict[str, Any]]] = {}
        self.safe_migrations: dict[str, bool] = {}
        self.access_rules: dict[str, dict[str, tuple[str, ...]]] = {}
        #: objects owned per branch and login (for drop_owned)
        self.owned: dict[str, dict[str, int]] = {}
        #: failures to raise on the next converge calls, in order
        self.failures: list[Exception] = []
        self._port = 30000
        self._lock = threading.Lock()

    def offer(self) -> Offer:
        return Offer(self.versions)

    def prepare(self) -> None:
        return None

    def free_port(self, taken: set[int]) -> int:
        with self._lock:
            while self._port in taken:
                self._port += 1
            self._port += 1
            return self._port - 1

    def converge(self, plan: BranchPlan, progress: Progress) -> None:
        progress("starting (fake)")
        if self.failures:
            failure = self.failures.pop(0)
            raise failure
        self.running[plan.branch_id] = plan

    def problem(self, plan: BranchPlan) -> str | None:
        return None if plan.branch_id in self.running else "not running (fake)"

    def apply_credential(self, plan: BranchPlan, credential: CredentialPlan) -> None:
        self.credentials.setdefault(plan.branch_id, {})[credential.username] = credential

    def drop_credential(self, plan: BranchPlan, username: str) -> None:
        self.credentials.get(plan.branch_id, {}).pop(username, None)

    def drop_owned(self, plan: BranchPlan, username: str, successor: str | None) -> None:
        owned = self.owned.get(plan.branch_id, {}).pop(username, 0)
        if owned and successor is None:
            self.owned[plan.branch_id][username] = owned
            raise PermanentFailure("Role is still referenced and cannot be dropped.")

    def set_access_rules(self, plan: BranchPlan, rules: dict[str, tuple[str, ...]]) -> None:
        self.access_rules[plan.branch_id] = dict(rules)

    def reassign_owned(self, plan: BranchPlan, username: str, successor: str) -> None:
        owned = self.owned.get(plan.branch_id, {})
        owned[successor] = owned.get(successor, 0) + owned.pop(username, 0)

    def copy_schema(self, parent: BranchPlan, plan: BranchPlan) -> None:
        self.schemas[plan.branch_id] = list(self.schemas.get(parent.branch_id, []))

    def set_safe_migrations(self, plan: BranchPlan, enabled: bool) -> None:
        self.safe_migrations[plan.branch_id] = enabled

    def tables(self, plan: BranchPlan) -> list[dict[str, Any]]:
        return list(self.schemas.get(plan.branch_id, []))

    def destroy(self, plan: BranchPlan) -> None:
        self.running.pop(plan.branch_id, None)
        self.credentials.pop(plan.branch_id, None)
        self.destroyed.append(plan.branch_id)

    def stop_all(self) -> None:
        self.running.clear()


__all__ = ["FakeProvisioner", "PermanentFailure", "TemporaryFailure"]
