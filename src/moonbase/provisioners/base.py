"""Where servers run. The reconciler talks only to this interface.

Plans are plain values computed from the store; a provisioner never reads the store. Every
method is idempotent and may block: the reconciler calls it from a worker thread, one call at a
time per branch, and calls it again after a crash or a failure.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moonbase.catalog import Offer


class TemporaryFailure(Exception):
    """Retry later (with backoff): a server is still starting, a port is busy ..."""


class PermanentFailure(Exception):
    """Retrying will not help until something changes (missing binaries, bad config)."""


@dataclass(frozen=True)
class CredentialPlan:
    username: str
    verifier: str = field(repr=False)
    role: str | None = None
    inherited_roles: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    #: False while the branch has safe migrations on (MySQL withholds DDL privileges)
    ddl: bool = True


@dataclass(frozen=True)
class BranchPlan:
    branch_id: str
    kind: str
    version: str
    memory_mb: int
    max_connections: int
    #: ports of the primary (first) and each replica, reserved in the store
    ports: tuple[int, ...]
    #: the application database (MySQL: the PlanetScale database name)
    database_name: str

    @property
    def replicas(self) -> int:
        return len(self.ports) - 1


Progress = Callable[[str], None]


class Provisioner(ABC):
    @abstractmethod
    def offer(self) -> Offer:
        """Engine versions this provisioner can run."""

    @abstractmethod
    def prepare(self) -> None:
        """Slow, once per start and in the background: binaries, templates, spare pools."""

    @abstractmethod
    def free_port(self, taken: set[int]) -> int:
        """A port for a new server, not in ``taken`` and free right now."""

    @abstractmethod
    def converge(self, plan: BranchPlan, progress: Progress) -> None:
        """Make every server of the branch run as planned: primary answering, replicas
        streaming. Adopts servers that are already running."""

    @abstractmethod
    def problem(self, plan: BranchPlan) -> str | None:
        """A cheap health check of a ready branch: None, or what is wrong."""

    @abstractmethod
    def apply_credential(self, plan: BranchPlan, credential: CredentialPlan) -> None: ...

    @abstractmethod
    def drop_credential(self, plan: BranchPlan, username: str) -> None: ...

    @abstractmethod
    def drop_owned(self, plan: BranchPlan, username: str, successor: str | None) -> None:
        """Hand a login's objects to ``successor`` before it is dropped (PostgreSQL); refuse
        with PermanentFailure when it owns objects and there is no successor."""

    @abstractmethod
    def set_access_rules(self, plan: BranchPlan, rules: dict[str, tuple[str, ...]]) -> None:
        """PostgreSQL: let each login in ``rules`` connect only from its networks, on every
        server of the branch. MySQL: host masks belong to each login (``cidrs``)."""

    @abstractmethod
    def reassign_owned(self, plan: BranchPlan, username: str, successor: str) -> None:
        """Give every object a login owns to ``successor`` (PostgreSQL); nothing on MySQL."""

    @abstractmethod
    def copy_schema(self, parent: BranchPlan, plan: BranchPlan) -> None:
        """Give a new branch its parent's schema (no data). Both branches are running."""

    @abstractmethod
    def set_safe_migrations(self, plan: BranchPlan, enabled: bool) -> None:
        """Make the branch's servers refuse (or allow again) DDL where the engine does it
        itself (PostgreSQL); MySQL withholds DDL through credentials (``ddl``)."""

    @abstractmethod
    def tables(self, plan: BranchPlan) -> list[dict[str, Any]]:
        """The branch's tables as read from its primary: name, namespace, raw, columns,
        unique_keys, strict_unique_keys, charset, engine."""

    @abstractmethod
    def destroy(self, plan: BranchPlan) -> None:
        """Stop every server of the branch and remove its files; nothing is left behind."""

    def start_background(self) -> None:  # noqa: B027 - optional hook
        """Start slow preparation (templates, spare pools) in the background."""

    def stop_all(self) -> None:  # noqa: B027 - optional hook
        """Stop every server this provisioner runs (a graceful ``moonbase up`` exit)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release background resources (servers keep running)."""
