"""PostgreSQL servers, one folder each: ``data/`` (PGDATA), ``run/`` (private socket dir, 0700,
owned by the server account) and ``postgresql.log``.

Design, and why:

* **Template, then copy.** initdb takes about a second, a copy of a cleanly shut down cluster a
  fraction of that, so ``build_template`` runs initdb once per version and every server (the
  primary *and* its replicas) is a copy. Copies of one template share the system identifier and
  the shutdown checkpoint, which makes a copy a valid base backup for a streaming replica of
  another copy: the replica asks the primary for WAL from that checkpoint onwards.
* **Internal superuser ``moonbase_admin``, socket only.** pg_hba trusts local connections
  because the socket directory is private (0700); every TCP connection must pass SCRAM.
  ``listen_addresses`` alone decides exposure, so pg_hba accepts TCP from anywhere.
* **PlanetScale's ``postgres`` role** is created in the template as a non-superuser with
  PlanetScale's memberships, owning the ``postgres`` database and its ``public`` schema.
* **Config by include.** ``postgresql.conf`` stays initdb's and ends with
  ``include_if_exists = 'moonbase.conf'``; ``configure`` rewrites only that file (atomically).
* **Replication slots** (``replica_<server_id>``) live on the primary. ``configure`` of a
  replica creates its slot when the primary is up (before the replica starts, so its walreceiver
  finds the slot at once); ``replica_status`` creates it too if it is still missing, so the
  order in which the provisioner starts servers never matters. ``forget_replica`` drops it.
  Replicas stream from the primary's socket as ``moonbase_admin`` (same machine, same account),
  so ``replication_password`` is not used by this engine.
* The ``postgres`` binary is started directly (not ``pg_ctl``) and readiness is polled every
  5 ms; ``pg_ctl -w`` polls every 100 ms.
* ``pg_hba.conf`` is rendered by ``configure`` (and ``set_access_rules``) from the client
  rules stored in ``<root>/access_rules.json`` (:mod:`.postgresql_hba`).
* Helpers: replication slots, status and ``seed_replica`` (pg_basebackup) in
  :mod:`.postgresql_replication`; ``copy_schema`` and ``tables`` in :mod:`.postgresql_schema`;
  safe migrations in :mod:`.postgresql_safe_migrations`; logins and ``drop_owned`` in
  :mod:`.postgresql_roles`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import psycopg
from psycopg import sql as pgsql

from moonbase.engines import postgresql_hba as hba
from moonbase.engines import postgresql_replication as replication
from moonbase.engines import postgresql_roles as roles
from moonbase.engines import postgresql_safe_migrations as safe_migrations
from moonbase.engines import postgresql_schema as schema
from moonbase.engines.base import (
    AccessRule,
    Credential,
    Engine,
    EngineError,
    ReplicaStatus,
    RunAs,
    ServerRole,
    ServerSpec,
    TableSchema,
)
from moonbase.engines.process import (
    check_traversable,
    copy_tree,
    is_alive,
    log_tail,
    make_dir,
    pid_serving,
    run,
    spawn,
    spawned_pid_serving,
    stop,
    write_file,
)

ADMIN_ROLE = roles.ADMIN_ROLE
_TEMPLATE_PORT = 5432  # the template server listens on its private socket only
_MAX_SOCKET_PATH = 107  # sun_path is 108 bytes including the terminating NUL

_INCLUDE = "\n# Managed by Moonbase: settings per server\ninclude_if_exists = 'moonbase.conf'\n"


def _conf_str(value: str) -> str:
    """A single-quoted postgresql.conf string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _conninfo_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _translated(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Driver errors become EngineError, so callers never need to know psycopg. Errors in the
    statement itself (syntax, privileges, constraints) are permanent; the rest may pass."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except psycopg.Error as exc:
            permanent = isinstance(
                exc, psycopg.ProgrammingError | psycopg.IntegrityError | psycopg.DataError
            )
            raise EngineError(f"PostgreSQL: {str(exc).strip()}", permanent=permanent) from exc

    return wrapper


def _lock_pid_alive(lock: Path) -> bool:
    try:
        return is_alive(int(lock.read_text(encoding="ascii").split("\n", 1)[0]))
    except (OSError, ValueError):
        return False


slot_name = replication.slot_name


class PostgreSQLEngine(Engine):
    """PostgreSQL at one major version, from one bin directory."""

    kind = "postgresql"

    def __init__(self, bin_dir: Path, version: str, run_as: RunAs | None) -> None:
        self.bin_dir = bin_dir
        self.version = version
        self.run_as = run_as

    def __repr__(self) -> str:
        return f"PostgreSQLEngine(version={self.version!r}, bin_dir={str(self.bin_dir)!r})"

    # --- paths ------------------------------------------------------------------------------
    @staticmethod
    def data_dir(root: Path) -> Path:
        return root / "data"

    @staticmethod
    def socket_dir(root: Path) -> Path:
        return root / "run"

    @staticmethod
    def log_file(root: Path) -> Path:
        return root / "postgresql.log"

    def _check_socket_path(self, root: Path, port: int) -> None:
        path = self.socket_dir(root) / f".s.PGSQL.{port}.lock"
        if len(str(path).encode()) > _MAX_SOCKET_PATH:
            raise EngineError(
                f"socket path {path} is longer than {_MAX_SOCKET_PATH} bytes; "
                "use a shorter data directory",
                permanent=True,
            )

    def admin_connection(
        self, spec: ServerSpec, dbname: str | None = None
    ) -> psycopg.Connection[tuple[object, ...]]:
        """The internal superuser over the private socket, autocommit (for helper modules)."""
        return self._connect(spec.root, spec.port, dbname or spec.database_name)

    def _connect(
        self, root: Path, port: int, dbname: str = "postgres", timeout: int = 5
    ) -> psycopg.Connection[tuple[object, ...]]:
        try:
            return psycopg.connect(
                host=str(self.socket_dir(root)),
                port=port,
                user=ADMIN_ROLE,
                dbname=dbname,
                autocommit=True,
                connect_timeout=timeout,
                application_name="moonbase",
            )
        except psycopg.OperationalError as exc:
            raise EngineError(f"cannot connect to PostgreSQL in {root}: {exc}") from exc

    # --- data directories -------------------------------------------------------------------
    def build_template(self, dest: Path) -> None:
        if dest.exists():
            return
        check_traversable(dest.parent, self.run_as)
        check_traversable(self.bin_dir, self.run_as)
        tmp = dest.with_name(f".{dest.name}.building")
        if tmp.exists():
            shutil.rmtree(tmp)
        self._check_socket_path(tmp, _TEMPLATE_PORT)
        make_dir(tmp, self.run_as)
        data = self.data_dir(tmp)
        make_dir(data, self.run_as)
        make_dir(self.socket_dir(tmp), self.run_as)
        log = self.log_file(tmp)
        run(
            [
                self.bin_dir / "initdb",
                "-D",
                data,
                "-U",
                ADMIN_ROLE,
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            run_as=self.run_as,
            log_file=log,
            cwd=tmp,
            timeout=120,
        )
        write_file(data / "pg_hba.conf", hba.render(()), self.run_as)
        with open(data / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write(_INCLUDE)
        write_file(
            data / "moonbase.conf",
            self._settings(
                tmp, port=_TEMPLATE_PORT, host="", shared_buffers_mb=16, max_connections=20
            ),
            self.run_as,
        )
        pid = self._spawn(tmp)
        try:
            self._wait_ready(tmp, _TEMPLATE_PORT, 60.0)
            with self._connect(tmp, _TEMPLATE_PORT) as conn:
                roles.create_default_role(conn)
                conn.execute("CHECKPOINT")
        finally:
            stop(pid, signal.SIGINT, 30.0)
        for leftover in (data / "moonbase.conf", data / "postmaster.opts", log):
            leftover.unlink(missing_ok=True)
        os.sync()  # initdb ran with --no-sync; a template must survive a power cut
        os.replace(tmp, dest)

    def clone_template(self, template: Path, dest: Path) -> None:
        if not (self.data_dir(template) / "PG_VERSION").exists():
            raise EngineError(f"{template} is not a PostgreSQL template", permanent=True)
        check_traversable(dest.parent, self.run_as)
        copy_tree(template, dest)

    # --- lifecycle --------------------------------------------------------------------------
    def _settings(
        self, root: Path, *, port: int, host: str, shared_buffers_mb: int, max_connections: int
    ) -> str:
        lines = [
            "# Managed by Moonbase: rewritten before every start",
            f"port = {port}",
            f"listen_addresses = {_conf_str(host)}",
            f"unix_socket_directories = {_conf_str(str(self.socket_dir(root)))}",
            "unix_socket_permissions = 0700",
            f"shared_buffers = {max(1, shared_buffers_mb)}MB",
            f"max_connections = {max_connections}",
            "password_encryption = 'scram-sha-256'",
            "wal_level = replica",
            "max_wal_senders = 10",
            "max_replication_slots = 10",
            # pg_dump and copy_schema's single-transaction restore lock every table at once;
            # the default (64 x connections) runs out at a few hundred tables on small sizes
            "max_locks_per_transaction = 256",
            "wal_keep_size = '128MB'",
            "hot_standby = on",
            "wal_retrieve_retry_interval = '1s'",  # a replica that lost its primary retries soon
            "fsync = on",
            "logging_collector = off",
            "log_line_prefix = '%m [%p] %q%u@%d '",
        ]
        return "\n".join(lines) + "\n"

    def configure(self, spec: ServerSpec) -> None:
        data = self.data_dir(spec.root)
        if not (data / "PG_VERSION").exists():
            raise EngineError(f"{spec.root} holds no PostgreSQL data directory", permanent=True)
        self._check_socket_path(spec.root, spec.port)
        make_dir(self.socket_dir(spec.root), self.run_as)
        text = self._settings(
            spec.root,
            port=spec.port,
            host=spec.host,
            shared_buffers_mb=spec.limits.memory_mb,
            max_connections=spec.limits.max_connections,
        )
        signal_file = data / "standby.signal"
        if spec.role is ServerRole.REPLICA:
            primary = replication.primary_of(spec)
            conninfo = " ".join(
                [
                    f"host={_conninfo_value(str(self.socket_dir(primary.root)))}",
                    f"port={primary.port}",
                    f"user={ADMIN_ROLE}",
                    f"application_name={slot_name(spec.server_id)}",
                ]
            )
            text += (
                f"primary_conninfo = {_conf_str(conninfo)}\n"
                f"primary_slot_name = {_conf_str(slot_name(spec.server_id))}\n"
            )
            write_file(signal_file, "", self.run_as)
            if self.running_pid(primary) is not None:
                # best effort: replica_status creates the slot once the primary answers
                with contextlib.suppress(EngineError):
                    self.ensure_replica_slot(spec)
        else:
            signal_file.unlink(missing_ok=True)
        write_file(data / "pg_hba.conf", hba.render(hba.load(spec.root)), self.run_as)
        write_file(data / "moonbase.conf", text, self.run_as)

    def _spawn(self, root: Path) -> int:
        return spawn(
            [self.bin_dir / "postgres", "-D", self.data_dir(root)],
            run_as=self.run_as,
            log_file=self.log_file(root),
            cwd=self.data_dir(root),
        )

    def start(self, spec: ServerSpec) -> int:
        pid = self.running_pid(spec)
        if pid is not None:
            return pid
        data = self.data_dir(spec.root)
        if not (data / "moonbase.conf").exists():
            raise EngineError(f"{spec.root} is not configured", permanent=True)
        # Nobody serves this folder (running_pid checked the process). A lock file whose pid
        # is dead is PostgreSQL's to clean up; one whose pid was reused by an unrelated live
        # process would make it refuse to start ("is another postmaster running?"), so that
        # one goes. PostgreSQL's shared-memory interlock still guards against a real twin.
        for lock in [data / "postmaster.pid", *self.socket_dir(spec.root).glob(".s.PGSQL.*.lock")]:
            if _lock_pid_alive(lock):
                lock.unlink(missing_ok=True)
        return self._spawn(spec.root)

    def running_pid(self, spec: ServerSpec) -> int | None:
        data = self.data_dir(spec.root)
        pid = pid_serving(data / "postmaster.pid", data)
        return pid if pid is not None else spawned_pid_serving(data)

    def _wait_ready(self, root: Path, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        data = self.data_dir(root)
        sock = self.socket_dir(root) / f".s.PGSQL.{port}"
        last = "no socket yet"
        while True:
            if sock.exists():
                try:
                    with psycopg.connect(
                        host=str(sock.parent),
                        port=port,
                        user=ADMIN_ROLE,
                        dbname="postgres",
                        autocommit=True,
                        connect_timeout=2,
                        application_name="moonbase",
                    ) as conn:
                        conn.execute("SELECT 1")
                    return
                except psycopg.OperationalError as exc:
                    last = str(exc).strip()
            if (
                pid_serving(data / "postmaster.pid", data) is None
                and spawned_pid_serving(data) is None
            ):
                raise EngineError(
                    f"PostgreSQL in {root} is not running: {log_tail(self.log_file(root))}"
                )
            if time.monotonic() >= deadline:
                raise EngineError(f"PostgreSQL in {root} not ready after {timeout:.1f}s: {last}")
            time.sleep(0.005)

    def wait_ready(self, spec: ServerSpec, timeout: float) -> None:
        self._wait_ready(spec.root, spec.port, timeout)

    def stop(self, spec: ServerSpec, timeout: float = 10.0) -> None:
        pid = self.running_pid(spec)
        if pid is not None:
            stop(pid, signal.SIGINT, timeout)  # fast shutdown: clean, does not wait for clients

    # --- primary setup ----------------------------------------------------------------------
    @_translated
    def bootstrap_primary(self, spec: ServerSpec) -> None:
        with self._connect(spec.root, spec.port) as conn:
            roles.create_default_role(conn)
            if (
                spec.database_name != "postgres"
                and conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (spec.database_name,)
                ).fetchone()
                is None
            ):
                conn.execute(
                    pgsql.SQL("CREATE DATABASE {} OWNER {}").format(
                        pgsql.Identifier(spec.database_name), pgsql.Identifier(roles.DEFAULT_ROLE)
                    )
                )

    @_translated
    def ensure_replica_slot(self, spec: ServerSpec) -> None:
        """Create the physical slot of replica ``spec`` on its primary (idempotent). The slot
        keeps the primary from recycling WAL the replica has not received yet."""
        replication.ensure_slot(self, replication.primary_of(spec), spec.server_id)

    @_translated
    def forget_replica(self, spec: ServerSpec) -> None:
        """Drop the replica's slot on the primary (after the replica is stopped for good)."""
        replication.forget(self, spec)

    @_translated
    def replica_status(self, spec: ServerSpec) -> ReplicaStatus:
        return replication.status(self, spec)

    @_translated
    def seed_replica(self, primary: ServerSpec, replica: ServerSpec) -> None:
        replication.seed(self, primary, replica)

    # --- credentials ------------------------------------------------------------------------
    def make_verifier(self, username: str, password: str) -> str:
        return roles.scram_sha256_verifier(password)

    @_translated
    def apply_credential(self, spec: ServerSpec, credential: Credential) -> None:
        with self._connect(spec.root, spec.port) as conn:
            roles.apply_credential(conn, credential, self.version)

    @_translated
    def drop_credential(self, spec: ServerSpec, username: str) -> None:
        """Refuses (permanently) while the role owns objects: call ``drop_owned`` first."""
        roles.drop_credential(lambda db: self._connect(spec.root, spec.port, db), username)

    @_translated
    def drop_owned(self, spec: ServerSpec, username: str, successor: str | None) -> None:
        roles.drop_owned(lambda db: self._connect(spec.root, spec.port, db), username, successor)

    @_translated
    def reassign_owned(self, spec: ServerSpec, username: str, successor: str) -> None:
        """The same REASSIGN OWNED as ``drop_owned`` with a successor: privileges stay."""
        roles.drop_owned(lambda db: self._connect(spec.root, spec.port, db), username, successor)

    # --- branches ---------------------------------------------------------------------------
    @_translated
    def copy_schema(self, source: ServerSpec, dest: ServerSpec) -> None:
        schema.copy_schema(self, source, dest)

    @_translated
    def set_safe_migrations(self, spec: ServerSpec, enabled: bool) -> None:
        safe_migrations.set_safe_migrations(
            lambda db: self._connect(spec.root, spec.port, db), enabled
        )

    @_translated
    def set_access_rules(self, spec: ServerSpec, rules: tuple[AccessRule, ...]) -> None:
        """Store the rules, render pg_hba.conf, and if the server runs: reload, check that
        PostgreSQL accepted the file, and end sessions the new rules no longer allow."""
        hba.save(spec.root, rules, self.run_as)
        write_file(self.data_dir(spec.root) / "pg_hba.conf", hba.render(rules), self.run_as)
        if self.running_pid(spec) is None:
            return  # configure renders the same file before the next start
        with self._connect(spec.root, spec.port) as conn:
            hba.reload(conn, rules)

    # --- introspection ----------------------------------------------------------------------
    @_translated
    def tables(self, spec: ServerSpec) -> list[TableSchema]:
        with self._connect(spec.root, spec.port) as conn:
            return schema.tables(conn)

    @_translated
    def admin_query(self, spec: ServerSpec, sql: str) -> list[tuple[object, ...]]:
        with self._connect(spec.root, spec.port) as conn:
            cur = conn.execute(sql.encode("utf-8"))  # bytes: a caller's literal %% stays as is
            return list(cur.fetchall()) if cur.description is not None else []
