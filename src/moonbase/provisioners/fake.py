"""A provisioner without servers, for API tests that are about the contract, not the engines.

It plugs in through the :class:`Provisioner` interface (nothing is patched) and records what
it was asked to do, so tests can assert on it.
"""

from __future__ import annotations

import threading

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

    def destroy(self, plan: BranchPlan) -> None:
        self.running.pop(plan.branch_id, None)
        self.credentials.pop(plan.branch_id, None)
        self.destroyed.append(plan.branch_id)

    def stop_all(self) -> None:
        self.running.clear()


__all__ = ["FakeProvisioner", "PermanentFailure", "TemporaryFailure"]
