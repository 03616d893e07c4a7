"""MariaDB servers (the MySQL-compatible engine), one folder each: ``data/`` (datadir),
``run/`` (socket and pid file, 0700), ``my.cnf`` and ``mariadb.log``.

Design, and why:

* **One option file per server, nothing else.** The server is started as
  ``mariadbd --defaults-file=<root>/my.cnf``: like ``--no-defaults`` it ignores ``/etc/mysql``
  and ``~/.my.cnf`` (which would otherwise silently change every server), and unlike a long
  command line the settings stay readable next to the data and ``configure`` just rewrites the
  file. It also puts the folder on the command line, which is how adoption recognises the
  process (``/proc/<pid>/cmdline``).
* **Started as the server account, not as root with ``--user``**, the same way as PostgreSQL, so
  the spawn/adopt/stop code is shared and the server never holds root even briefly.
* **Template, then copy** (``cp -a`` of a 26 MB, ~200 file folder takes ~30 ms). The template
  is initialised without binlog; ``root`` exists only as ``root@localhost``, i.e. on the private
  socket; the TCP root accounts and anonymous users created by install-db are dropped.
* **Replication**: every server has a binlog (``log-slave-updates``, so a replica can become a
  primary), ROW format, GTID. Replicas are copies of the same template as their primary, so they
  start from an empty ``gtid_slave_pos`` and replay the primary's whole binlog, which begins at
  the template. The replica is pointed at its primary in ``wait_ready`` (the first moment it
  answers) and again in ``replica_status`` if that was lost; both are no-ops once configured.
* **Adding a replica to a running branch** needs nothing but a pristine folder for the same
  reason: the primary's binlog reaches back to the template (binlogs are never expired here),
  so a new replica replays all of it. ``seed_replica`` is not given the template, so it builds
  an identical one in place (``build_template``: install-db and the same account clean-up,
  about a second) rather than copy the primary's files, which would need mariadb-backup (not a
  dependency) and a GTID position taken from the backup. A provisioner with a ready template
  copy at hand may use that instead: the result is the same.
* **Branches** (``copy_schema``, ``tables``) live in :mod:`moonbase.engines.mysql_schema`;
  safe migrations and client networks are account properties (:mod:`.mysql_accounts`).
* **Safe migrations' wording**: every server reads its messages from its own ``messages/``
  folder (:mod:`.mysql_messages`); a server whose folder holds the ``safe-migrations`` mark
  speaks the language whose privilege refusals name safe migrations, set in ``my.cnf`` for the
  next start and with ``SET GLOBAL lc_messages`` for the running server.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pymysql  # type: ignore[import-untyped]  # no stubs are pinned

from moonbase.engines import mysql_accounts as accounts
from moonbase.engines import mysql_messages as messages
from moonbase.engines import mysql_schema
from moonbase.engines.base import (
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
    log_tail,
    make_dir,
    pid_serving,
    run,
    spawn,
    spawned_pid_serving,
    stop,
    write_file,
)

_MAX_SOCKET_PATH = 107
_CLIENT_PATH = "/usr/local/bin:/usr/bin:/bin"
_BASE_OPTIONS = (
    "character-set-server = utf8mb4",
    "collation-server = utf8mb4_unicode_ci",
    "skip-name-resolve",
    "performance-schema = OFF",
    "innodb-log-file-size = 8M",
    "innodb-log-buffer-size = 2M",  # the minimum; 1M is rounded up with a warning
    "table-open-cache = 400",  # the default 2000 asks for more open files than a sandbox has
    "aria-pagecache-buffer-size = 1M",
    "key-buffer-size = 1M",
    "local-infile = 0",
    "innodb-buffer-pool-load-at-startup = OFF",
    "innodb-buffer-pool-dump-at-shutdown = OFF",
    "innodb-temp-data-file-path = ibtmp1:1M:autoextend",
)


log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _translated(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Driver errors become EngineError, so callers never need to know PyMySQL. Errors in the
    statement itself (syntax, privileges, constraints) are permanent; the rest may pass."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except pymysql.err.MySQLError as exc:
            permanent = isinstance(
                exc,
                pymysql.err.ProgrammingError | pymysql.err.IntegrityError | pymysql.err.DataError,
            )
            raise EngineError(f"MariaDB: {exc}", permanent=permanent) from exc

    return wrapper


class MariaDBEngine(Engine):
    """MariaDB at one major.minor version (``"10.11"``)."""

    replica_from_template = True

    kind = "mysql"

    def __init__(
        self, mariadbd: Path, install_db: Path, version: str, run_as: RunAs | None
    ) -> None:
        self.mariadbd = mariadbd
        self.install_db = install_db
        self.version = version
        self.run_as = run_as

    def __repr__(self) -> str:
        return f"MariaDBEngine(version={self.version!r}, mariadbd={str(self.mariadbd)!r})"

    @functools.cached_property
    def _messages(self) -> tuple[Path, bytes] | None:
        """The installation's stock messages folder and the catalogue naming safe migrations
        (None, and MariaDB's plain refusals, where the installation has no catalogue)."""
        stock = messages.stock_folder(self.mariadbd)
        if stock is None:
            log.warning("no errmsg.sys beside %s: safe migrations refusals are not named", self)
            return None
        english = (stock / "english" / "errmsg.sys").read_bytes()
        try:
            return stock, messages.naming_safe_migrations(english)
        except (EngineError, KeyError) as exc:
            log.warning("cannot extend %s's messages (%s): refusals are not named", self, exc)
            return None

    # --- paths ------------------------------------------------------------------------------
    @staticmethod
    def data_dir(root: Path) -> Path:
        return root / "data"

    @staticmethod
    def socket_path(root: Path) -> Path:
        return root / "run" / "mysqld.sock"

    @staticmethod
    def pid_file(root: Path) -> Path:
        return root / "run" / "mysqld.pid"

    @staticmethod
    def option_file(root: Path) -> Path:
        return root / "my.cnf"

    @staticmethod
    def log_file(root: Path) -> Path:
        return root / "mariadb.log"

    @staticmethod
    def messages_dir(root: Path) -> Path:
        return root / "messages"

    @staticmethod
    def safe_migrations_mark(root: Path) -> Path:
        return root / "safe-migrations"

    def _check_socket_path(self, root: Path) -> None:
        if len(str(self.socket_path(root)).encode()) > _MAX_SOCKET_PATH:
            raise EngineError(
                f"socket path {self.socket_path(root)} is longer than "
                f"{_MAX_SOCKET_PATH} bytes; use a shorter data directory",
                permanent=True,
            )

    def client(self, name: str) -> Path:
        """A client tool (``mariadb``, ``mariadb-dump``) of the same installation as the server
        (beside mariadb-install-db), else from the system path."""
        candidate = self.install_db.parent / name
        if candidate.exists():
            return candidate
        found = shutil.which(name, path=_CLIENT_PATH)
        if found is None:
            raise EngineError(f"{name} not found (install mariadb-client)", permanent=True)
        return Path(found)

    def admin_connection(self, spec: ServerSpec) -> Any:  # a PyMySQL connection
        """root over the private socket (for helper modules; close it, e.g. ``with``)."""
        return self._connect(spec.root)

    def _connect(self, root: Path, timeout: int = 5) -> Any:  # a PyMySQL connection
        try:
            return pymysql.connect(
                unix_socket=str(self.socket_path(root)),
                user="root",
                password="",
                autocommit=True,
                connect_timeout=timeout,
                charset="utf8mb4",
                ssl_disabled=True,
            )
        except pymysql.err.MySQLError as exc:
            raise EngineError(f"cannot connect to MariaDB in {root}: {exc}") from exc

    # --- option file ------------------------------------------------------------------------
    def _options(
        self,
        root: Path,
        *,
        port: int,
        host: str | None,
        memory_mb: int,
        max_connections: int,
        extra: tuple[str, ...],
    ) -> str:
        lines = [
            "# Managed by Moonbase: rewritten before every start",
            "[mariadbd]",
            f"datadir = {self.data_dir(root)}",
            f"socket = {self.socket_path(root)}",
            f"pid-file = {self.pid_file(root)}",
            f"log-error = {self.log_file(root)}",
            f"port = {port}",
            "skip-networking" if host is None else f"bind-address = {host}",
            *_BASE_OPTIONS,
            f"innodb-buffer-pool-size = {max(8, memory_mb)}M",
            f"max-connections = {max_connections}",
            *extra,
        ]
        return "\n".join(lines) + "\n"

    # --- data directories -------------------------------------------------------------------
    def build_template(self, dest: Path) -> None:
        if dest.exists():
            return
        check_traversable(dest.parent, self.run_as)
        tmp = dest.with_name(f".{dest.name}.building")
        if tmp.exists():
            shutil.rmtree(tmp)
        self._check_socket_path(tmp)
        make_dir(tmp, self.run_as)
        make_dir(self.data_dir(tmp), self.run_as)
        make_dir(tmp / "run", self.run_as)
        log = self.log_file(tmp)
        run(
            [
                self.install_db,
                "--no-defaults",
                f"--datadir={self.data_dir(tmp)}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                "--innodb-log-file-size=8M",
                "--innodb-buffer-pool-size=8M",
                "--performance-schema=OFF",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
            ],
            run_as=self.run_as,
            log_file=log,
            cwd=tmp,
            timeout=120,
        )
        write_file(
            self.option_file(tmp),
            self._options(tmp, port=3306, host=None, memory_mb=8, max_connections=10, extra=()),
            self.run_as,
        )
        pid = self._spawn(tmp)
        try:
            self._wait_ready(tmp, 60.0)
            with self._connect(tmp) as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT User, Host FROM mysql.global_priv "
                    "WHERE User = '' OR (User = 'root' AND Host <> 'localhost')"
                )
                for user, host in cur.fetchall():
                    cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
        finally:
            stop(pid, signal.SIGTERM, 30.0)
        for leftover in (self.option_file(tmp), log):
            leftover.unlink(missing_ok=True)
        self.data_dir(tmp).chmod(0o700)
        os.sync()  # a template must survive a power cut
        os.replace(tmp, dest)

    def clone_template(self, template: Path, dest: Path) -> None:
        if not (self.data_dir(template) / "mysql").is_dir():
            raise EngineError(f"{template} is not a MariaDB template", permanent=True)
        check_traversable(dest.parent, self.run_as)
        copy_tree(template, dest)

    # --- lifecycle --------------------------------------------------------------------------
    def configure(self, spec: ServerSpec) -> None:
        if not (self.data_dir(spec.root) / "mysql").is_dir():
            raise EngineError(f"{spec.root} holds no MariaDB data directory", permanent=True)
        self._check_socket_path(spec.root)
        make_dir(spec.root / "run", self.run_as)
        extra = [
            f"server-id = {spec.server_id}",
            "log-bin = mysql-bin",
            "binlog-format = ROW",
            "log-slave-updates",
            "relay-log = relay-bin",
            # Without SUPER, binlogging servers refuse CREATE FUNCTION/TRIGGER to everyone
            # (error 1419), which would make the admin role's routine and trigger privileges
            # useless. The check guards statement-based replication against non-deterministic
            # routines; with binlog-format ROW the rows themselves are logged.
            "log-bin-trust-function-creators = 1",
        ]
        if spec.role is ServerRole.REPLICA:
            extra.append("read-only")
        if self._messages is not None:
            stock, catalogue = self._messages
            messages.install(self.messages_dir(spec.root), stock, catalogue, self.run_as)
            safe = self.safe_migrations_mark(spec.root).exists()
            extra += [
                f"lc-messages-dir = {self.messages_dir(spec.root)}",
                f"lc-messages = {messages.locale_for(safe)}",
            ]
        write_file(
            self.option_file(spec.root),
            self._options(
                spec.root,
                port=spec.port,
                host=spec.host,
                memory_mb=spec.limits.memory_mb,
                max_connections=spec.limits.max_connections,
                extra=tuple(extra),
            ),
            self.run_as,
        )

    def _spawn(self, root: Path) -> int:
        return spawn(
            [self.mariadbd, f"--defaults-file={self.option_file(root)}"],
            run_as=self.run_as,
            log_file=self.log_file(root),
            cwd=root,
        )

    def start(self, spec: ServerSpec) -> int:
        pid = self.running_pid(spec)
        if pid is not None:
            return pid
        if not self.option_file(spec.root).exists():
            raise EngineError(f"{spec.root} is not configured", permanent=True)
        self.pid_file(spec.root).unlink(missing_ok=True)  # stale: nobody serves this folder
        return self._spawn(spec.root)

    def running_pid(self, spec: ServerSpec) -> int | None:
        pid = pid_serving(self.pid_file(spec.root), spec.root)
        return pid if pid is not None else spawned_pid_serving(spec.root)

    def _wait_ready(self, root: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        sock = self.socket_path(root)
        last = "no socket yet"
        while True:
            if sock.exists():
                try:
                    with pymysql.connect(
                        unix_socket=str(sock),
                        user="root",
                        password="",
                        connect_timeout=2,
                        ssl_disabled=True,
                    ) as conn:
                        conn.ping(reconnect=False)
                    return
                except pymysql.err.MySQLError as exc:
                    last = str(exc)
            if pid_serving(self.pid_file(root), root) is None and spawned_pid_serving(root) is None:
                raise EngineError(
                    f"MariaDB in {root} is not running: {log_tail(self.log_file(root))}"
                )
            if time.monotonic() >= deadline:
                raise EngineError(f"MariaDB in {root} not ready after {timeout:.1f}s: {last}")
            time.sleep(0.005)

    @_translated
    def wait_ready(self, spec: ServerSpec, timeout: float) -> None:
        self._wait_ready(spec.root, timeout)
        if spec.role is ServerRole.REPLICA:
            with self._connect(spec.root) as conn:
                accounts.ensure_replication(conn, spec)

    def stop(self, spec: ServerSpec, timeout: float = 10.0) -> None:
        pid = self.running_pid(spec)
        if pid is not None:
            stop(pid, signal.SIGTERM, timeout)  # SIGTERM is MariaDB's clean shutdown

    # --- primary setup ----------------------------------------------------------------------
    @_translated
    def bootstrap_primary(self, spec: ServerSpec) -> None:
        with self._connect(spec.root) as conn:
            accounts.bootstrap_primary(conn, spec)

    @_translated
    def replica_status(self, spec: ServerSpec) -> ReplicaStatus:
        if self.running_pid(spec) is None:
            return ReplicaStatus(False, "replica is not running")
        with self._connect(spec.root) as conn:
            status = accounts.slave_status(conn)
            if status is None:
                accounts.ensure_replication(conn, spec)
                return ReplicaStatus(False, "replication was not configured; configured it now")
        io, sql_thread = status["Slave_IO_Running"], status["Slave_SQL_Running"]
        if io == "Yes" and sql_thread == "Yes":
            return ReplicaStatus(
                True,
                f"streaming, {status['Seconds_Behind_Master']}s behind, "
                f"at {status['Gtid_IO_Pos'] or 'start'}",
            )
        errors = "; ".join(
            str(status[k]) for k in ("Last_IO_Error", "Last_SQL_Error") if status.get(k)
        )
        return ReplicaStatus(
            False, f"io thread {io}, sql thread {sql_thread}" + (f": {errors}" if errors else "")
        )

    # --- credentials ------------------------------------------------------------------------
    def make_verifier(self, username: str, password: str) -> str:
        return accounts.native_password_hash(password)

    @_translated
    def apply_credential(self, spec: ServerSpec, credential: Credential) -> None:
        with self._connect(spec.root) as conn:
            accounts.apply_credential(conn, credential, spec.database_name)

    @_translated
    def drop_credential(self, spec: ServerSpec, username: str) -> None:
        with self._connect(spec.root) as conn:
            accounts.drop_credential(conn, username)

    # --- branches ---------------------------------------------------------------------------
    @_translated
    @_translated
    def set_safe_migrations(self, spec: ServerSpec, enabled: bool) -> None:
        mark = self.safe_migrations_mark(spec.root)
        if enabled:
            write_file(mark, "on\n", self.run_as)
        else:
            mark.unlink(missing_ok=True)
        if self._messages is None:
            return
        self.configure(spec)  # the next start speaks the same language
        with self._connect(spec.root) as conn:
            accounts.execute(conn, "SET GLOBAL lc_messages = %s", (messages.locale_for(enabled),))

    def copy_schema(self, source: ServerSpec, dest: ServerSpec) -> None:
        mysql_schema.copy_schema(self, source, dest)

    @_translated
    def seed_replica(self, primary: ServerSpec, replica: ServerSpec) -> None:
        """A pristine folder, exactly what a template copy is (see the module docstring);
        idempotent and atomic like ``build_template``."""
        self.build_template(replica.root)

    # --- introspection ----------------------------------------------------------------------
    @_translated
    def tables(self, spec: ServerSpec) -> list[TableSchema]:
        with self._connect(spec.root) as conn:
            return mysql_schema.tables(conn, spec.database_name)

    @_translated
    def admin_query(self, spec: ServerSpec, sql: str) -> list[tuple[object, ...]]:
        with self._connect(spec.root) as conn, conn.cursor() as cur:
            cur.execute(sql)  # no args: PyMySQL leaves % alone
            return [tuple(row) for row in cur.fetchall()] if cur.description else []
