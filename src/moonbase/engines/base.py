"""What an engine is: the knowledge of one database product, nothing of where it runs.

An engine turns a folder on disk into a running server and back. It never touches the store,
HTTP or the reconciler; the local provisioner calls it with plain values (:class:`ServerSpec`)
and records what it returns. Every method is idempotent and blocking: the reconciler runs it in
a worker thread, one at a time per branch, and may call it again after a crash at any point.

Layout of one server folder (``ServerSpec.root``) is the engine's own business, except that
``root`` is created by the engine, removed by the provisioner, and everything the server writes
lives inside it (data, socket, pid file, log), so deleting ``root`` leaves nothing behind.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

#: the refusal of DDL on a branch with safe migrations on, the same words on both engines
SAFE_MIGRATIONS_MESSAGE = (
    "Data Definition Language is not supported on branches with safe migrations enabled."
)


class ServerRole(enum.StrEnum):
    PRIMARY = "primary"
    REPLICA = "replica"


class CredentialRole(enum.StrEnum):
    """MySQL password roles as PlanetScale names them."""

    READER = "reader"
    WRITER = "writer"
    READWRITER = "readwriter"
    ADMIN = "admin"


@dataclass(frozen=True)
class Limits:
    """Resource limits derived from a cluster size (see docs/cluster-sizes.md)."""

    memory_mb: int
    max_connections: int


@dataclass(frozen=True)
class ServerSpec:
    """Everything an engine needs to know about one server (a primary or a replica)."""

    root: Path
    port: int
    limits: Limits
    role: ServerRole = ServerRole.PRIMARY
    #: unique per server of one branch (MariaDB ``server_id``); 1 for the primary
    server_id: int = 1
    #: address the server listens on
    host: str = "127.0.0.1"
    #: for a replica: the primary it follows (same branch)
    primary: ServerSpec | None = None
    #: name of the application database to create on a primary (MySQL: the PlanetScale
    #: database name; PostgreSQL: ``postgres``, which always exists)
    database_name: str = "postgres"
    #: secret used for replication between servers of one branch; never logged
    replication_password: str = field(default="", repr=False)


@dataclass(frozen=True)
class Credential:
    """A login to create on a primary. ``verifier`` is what the server stores, never plaintext:
    PostgreSQL a SCRAM-SHA-256 verifier, MariaDB a ``mysql_native_password`` hash (``*HEX``)."""

    username: str
    verifier: str = field(repr=False)
    #: MySQL: the password role; PostgreSQL: ignored
    role: CredentialRole | None = None
    #: PostgreSQL: roles granted to this login (``pg_read_all_data``, ``postgres`` ...)
    inherited_roles: tuple[str, ...] = ()
    #: MySQL: client networks allowed to log in (IPv4 CIDRs); empty = anywhere
    cidrs: tuple[str, ...] = ()
    #: MySQL: False while the branch has safe migrations on (no DDL privileges granted)
    ddl: bool = True


@dataclass(frozen=True)
class AccessRule:
    """PostgreSQL client rule (pg_hba): ``role`` (None = every API role) may connect only from
    ``cidrs``. Rules are per server, so they are applied to the primary and every replica."""

    cidrs: tuple[str, ...]
    role: str | None = None


@dataclass(frozen=True)
class TableSchema:
    """One table as the schema endpoint shows it, plus what lint needs."""

    name: str
    #: the statement that recreates the table with its indexes and constraints
    raw: str
    #: PostgreSQL: the schema (namespace) it lives in; MySQL: ""
    namespace: str = ""
    #: (column name, data type, nullable)
    columns: tuple[tuple[str, str, bool], ...] = ()
    #: primary key and unique keys/indexes, each a tuple of column names (NULL-able or partial
    #: indexes included; lint decides what counts)
    unique_keys: tuple[tuple[str, ...], ...] = ()
    #: unique keys that are usable as row identity (every column NOT NULL, not partial)
    strict_unique_keys: tuple[tuple[str, ...], ...] = ()
    charset: str | None = None
    engine: str | None = None


@dataclass(frozen=True)
class ReplicaStatus:
    streaming: bool
    detail: str


class EngineError(Exception):
    """A server-side step failed. ``permanent`` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Engine(ABC):
    """One database product at one major version."""

    kind: str  #: ``postgresql`` or ``mysql``
    #: True when a copy of the template can become a replica of a primary of any age (MySQL:
    #: the binlog holds the whole history); False when a replica of a primary that has lived
    #: must be seeded from it (``seed_replica``)
    replica_from_template: bool = False
    version: str  #: major version offered through the API, e.g. ``"18"`` or ``"10.11"``

    # --- data directories -------------------------------------------------------------
    @abstractmethod
    def build_template(self, dest: Path) -> None:
        """Initialise a pristine, cleanly shut down server folder at ``dest`` (slow: initdb /
        install-db, then one start to set up internal accounts). Off the critical path."""

    @abstractmethod
    def clone_template(self, template: Path, dest: Path) -> None:
        """Copy a template folder to ``dest`` keeping ownership and modes."""

    # --- lifecycle ----------------------------------------------------------------------
    @abstractmethod
    def configure(self, spec: ServerSpec) -> None:
        """Write port, limits and role (primary / replica of ``spec.primary``) into the
        server folder. Called before every start; cheap; idempotent."""

    @abstractmethod
    def start(self, spec: ServerSpec) -> int:
        """Start the server detached from this process (it outlives Moonbase) unless it is
        already running; return its pid. Does not wait for readiness."""

    @abstractmethod
    def running_pid(self, spec: ServerSpec) -> int | None:
        """The pid of the server running from this folder, or None (adoption after restart:
        the pid file is trusted only if that process really serves this folder)."""

    @abstractmethod
    def wait_ready(self, spec: ServerSpec, timeout: float) -> None:
        """Block until the server answers a query as the internal admin; raise EngineError."""

    @abstractmethod
    def stop(self, spec: ServerSpec, timeout: float = 10.0) -> None:
        """Stop the server (fast mode, escalating to kill); no-op if not running."""

    # --- primary setup ----------------------------------------------------------------
    @abstractmethod
    def bootstrap_primary(self, spec: ServerSpec) -> None:
        """Idempotently prepare a running primary: application database, replication account
        with ``spec.replication_password``. Safe to call on every adoption."""

    @abstractmethod
    def replica_status(self, spec: ServerSpec) -> ReplicaStatus:
        """Whether a running replica is connected to its primary and applying changes."""

    def forget_replica(self, spec: ServerSpec) -> None:  # noqa: B027 - optional hook
        """Release what the primary keeps for replica ``spec`` once that replica is removed for
        good and stopped (PostgreSQL: its replication slot, which would otherwise make the
        primary keep WAL forever). Idempotent. Default: nothing to release."""

    # --- credentials ------------------------------------------------------------------
    @abstractmethod
    def make_verifier(self, username: str, password: str) -> str:
        """Server-side password verifier for ``password`` (pure, no server needed)."""

    @abstractmethod
    def apply_credential(self, spec: ServerSpec, credential: Credential) -> None:
        """Create or update a login on the primary with its grants (idempotent)."""

    @abstractmethod
    def drop_credential(self, spec: ServerSpec, username: str) -> None:
        """Drop a login and end its sessions (idempotent)."""

    def drop_owned(self, spec: ServerSpec, username: str, successor: str | None) -> None:  # noqa: B027 - optional
        """PostgreSQL: give ``username``'s objects to ``successor`` (``REASSIGN OWNED``), or
        refuse with a permanent EngineError ("Role is still referenced and cannot be dropped.")
        when it owns objects and there is no successor. MySQL: nothing to do."""

    def reassign_owned(self, spec: ServerSpec, username: str, successor: str) -> None:  # noqa: B027 - optional
        """PostgreSQL: ``REASSIGN OWNED BY username TO successor`` (the role keeps its
        privileges and stays). MySQL: nothing to do."""

    # --- branches -------------------------------------------------------------------
    def copy_schema(self, source: ServerSpec, dest: ServerSpec) -> None:
        """Recreate the schema of ``source``'s application database on ``dest`` (a running,
        freshly made primary), without data: tables, columns, defaults, indexes, keys,
        checks, views; PostgreSQL also schemas, types, sequences, extensions; MySQL also
        triggers and routines. Objects end up owned by the branch's owner role."""
        raise NotImplementedError

    def seed_replica(self, primary: ServerSpec, replica: ServerSpec) -> None:
        """Make ``replica.root`` (absent) a copy of a primary that has been running for a
        while (PostgreSQL: pg_basebackup with a slot; MySQL: nothing beyond the template, the
        binlog holds everything). Used when replicas are added to a running branch."""
        raise NotImplementedError

    def set_safe_migrations(self, spec: ServerSpec, enabled: bool) -> None:  # noqa: B027 - optional
        """Refuse DDL (and TRUNCATE) from every login but the internal admin with an error
        naming safe migrations (:data:`SAFE_MIGRATIONS_MESSAGE`), enforced inside the server.
        PostgreSQL: event triggers. MySQL: DDL privileges follow ``Credential.ddl``; this only
        makes the server's privilege refusals name safe migrations."""

    def set_access_rules(self, spec: ServerSpec, rules: tuple[AccessRule, ...]) -> None:  # noqa: B027 - optional
        """PostgreSQL: rewrite the server's client rules (pg_hba) and reload. MySQL: none."""

    # --- introspection ----------------------------------------------------------------
    def tables(self, spec: ServerSpec) -> list[TableSchema]:
        """Every table of the application database (PostgreSQL: of every user schema)."""
        raise NotImplementedError

    @abstractmethod
    def admin_query(self, spec: ServerSpec, sql: str) -> list[tuple[object, ...]]:
        """Run one statement as the internal admin over the private socket; rows returned."""


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account servers run as when Moonbase runs as root (None otherwise)."""

    user: str
    uid: int
    gid: int
