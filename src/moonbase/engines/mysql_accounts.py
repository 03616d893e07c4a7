"""MariaDB accounts: PlanetScale password roles, replication account, replica setup.

Only ``mysql_native_password`` hashes (``*`` + upper-hex SHA1(SHA1(pw))) are sent for logins,
so a plaintext never reaches the server, its binlog or its replicas. The one exception is the
replica's ``CHANGE MASTER TO ... MASTER_PASSWORD``: a replica must know the secret to log in,
and MariaDB keeps it in ``master.info`` inside the replica's own private folder.

Grants live on ``<database>.*`` only; in GRANT a database name is a LIKE pattern, so ``_`` and
``%`` are escaped (otherwise ``my_db`` would also grant ``myXdb``). Whether the grants already
match is read from ``mysql.db`` so re-applying an unchanged credential changes nothing (a
REVOKE + GRANT on every pass would make the account briefly powerless).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pymysql  # type: ignore[import-untyped]  # no stubs are pinned
import pymysql.cursors  # type: ignore[import-untyped]

from moonbase.engines.base import Credential, CredentialRole, EngineError, ServerSpec

REPLICATION_USER = "moonbase_repl"
RESERVED_USERS = frozenset({"root", "mysql", "mariadb.sys", "PUBLIC", "", REPLICATION_USER})
_MAX_USER_CHARS = 80
_HASH = re.compile(r"^\*[0-9A-F]{40}$")

#: mysql.db columns per PlanetScale role (``admin`` is every column except Grant_priv)
_ROLE_COLUMNS: dict[CredentialRole, frozenset[str]] = {
    CredentialRole.READER: frozenset({"Select_priv", "Show_view_priv"}),
    CredentialRole.WRITER: frozenset({"Insert_priv", "Update_priv", "Delete_priv"}),
    CredentialRole.READWRITER: frozenset(
        {"Select_priv", "Insert_priv", "Update_priv", "Delete_priv", "Show_view_priv"}
    ),
}
_ROLE_GRANTS: dict[CredentialRole, str] = {
    CredentialRole.READER: "SELECT, SHOW VIEW",
    CredentialRole.WRITER: "INSERT, UPDATE, DELETE",
    CredentialRole.READWRITER: "SELECT, INSERT, UPDATE, DELETE, SHOW VIEW",
    CredentialRole.ADMIN: "ALL PRIVILEGES",
}

Conn = Any  # pymysql.connections.Connection (PyMySQL ships no type stubs)


def native_password_hash(password: str) -> str:
    """What ``PASSWORD('...')`` returns: ``*`` + upper hex of SHA1(SHA1(password))."""
    inner = hashlib.sha1(password.encode("utf-8")).digest()  # noqa: S324 - the protocol's hash
    return "*" + hashlib.sha1(inner).hexdigest().upper()  # noqa: S324


def quote_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def grant_pattern(database: str) -> str:
    """The database as GRANT reads it: ``_`` and ``%`` are wildcards there, so escape them."""
    return database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def loopback_for(host: str) -> str:
    """The address a local client uses to reach a server bound to ``host`` (and hence the
    address the server sees that client coming from)."""
    if host in ("", "0.0.0.0", "*"):  # noqa: S104 - mapping a wildcard, not binding one
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _rows(conn: Conn, query: str, args: Any = None) -> list[dict[str, Any]]:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(query, args)
        return list(cur.fetchall())


def _exec(conn: Conn, query: str, args: Any = None) -> None:
    with conn.cursor() as cur:
        cur.execute(query, args)


def _check_username(username: str) -> None:
    if username in RESERVED_USERS or len(username) > _MAX_USER_CHARS:
        raise EngineError(f"invalid or reserved MariaDB user name {username!r}", permanent=True)


def _user_exists(conn: Conn, username: str, host: str = "%") -> bool:
    return bool(
        _rows(
            conn, "SELECT 1 FROM mysql.global_priv WHERE User = %s AND Host = %s", (username, host)
        )
    )


def _set_login(conn: Conn, username: str, host: str, password_hash: str) -> None:
    """CREATE or ALTER the account so that it has exactly this hash and is unlocked."""
    verb = "ALTER" if _user_exists(conn, username, host) else "CREATE"
    _exec(
        conn,
        f"{verb} USER %s@%s IDENTIFIED BY PASSWORD %s ACCOUNT UNLOCK",
        (username, host, password_hash),
    )


def apply_credential(conn: Conn, credential: Credential, database: str) -> None:
    username = credential.username
    _check_username(username)
    if credential.role is None:
        raise EngineError("a MariaDB credential needs a role", permanent=True)
    if not _HASH.match(credential.verifier):
        raise EngineError("MariaDB credentials need a mysql_native_password hash", permanent=True)
    _exec(conn, "SET SESSION sql_log_off = 1")  # no general-log line carrying the hash
    _set_login(conn, username, "%", credential.verifier)
    pattern = grant_pattern(database)
    rows = _rows(
        conn,
        "SELECT * FROM mysql.db WHERE Host = '%%' AND Db = %s AND User = %s",
        (pattern, username),
    )
    current = {k for k, v in rows[0].items() if k.endswith("_priv") and v == "Y"} if rows else set()
    if credential.role is CredentialRole.ADMIN:
        wanted = {
            str(r["COLUMN_NAME"])
            for r in _rows(
                conn,
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                "'mysql' AND TABLE_NAME = 'db' AND COLUMN_NAME LIKE %s",
                ("%\\_priv",),
            )
        } - {"Grant_priv"}
    else:
        wanted = set(_ROLE_COLUMNS[credential.role])
    if current == wanted:
        return
    target = f"{quote_ident(pattern)}.*".replace("%", "%%")  # the query also takes args
    if rows:
        _exec(conn, f"REVOKE ALL PRIVILEGES ON {target} FROM %s@'%%'", (username,))
    _exec(conn, f"GRANT {_ROLE_GRANTS[credential.role]} ON {target} TO %s@'%%'", (username,))


def drop_credential(conn: Conn, username: str) -> None:
    """Lock the account (no new sessions), kill its sessions, drop it. Idempotent."""
    _check_username(username)
    if _user_exists(conn, username):
        _exec(conn, "ALTER USER %s@'%%' ACCOUNT LOCK", (username,))
    for row in _rows(
        conn, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (username,)
    ):
        try:
            _exec(conn, f"KILL CONNECTION {int(row['ID'])}")
        except pymysql.err.OperationalError as exc:  # already gone (1094 unknown thread)
            if exc.args[0] != 1094:
                raise
    _exec(conn, "DROP USER IF EXISTS %s@'%%'", (username,))


def bootstrap_primary(conn: Conn, spec: ServerSpec) -> None:
    """Application database and replication account (idempotent, replicated to replicas)."""
    _exec(
        conn,
        f"CREATE DATABASE IF NOT EXISTS {quote_ident(spec.database_name)} "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    )
    if not spec.replication_password:
        return  # nothing can replicate without the secret; replicas report that themselves
    host = loopback_for(spec.host)
    _set_login(conn, REPLICATION_USER, host, native_password_hash(spec.replication_password))
    _exec(conn, "GRANT REPLICATION SLAVE ON *.* TO %s@%s", (REPLICATION_USER, host))


def slave_status(conn: Conn) -> dict[str, Any] | None:
    rows = _rows(conn, "SHOW SLAVE STATUS")
    return rows[0] if rows else None


def ensure_replication(conn: Conn, spec: ServerSpec) -> None:
    """Point the replica at its primary (GTID, from the replica's own position: a fresh clone
    of the template has none, so it replays the primary's binlog from its first event) and make
    sure both replication threads run. Does nothing when that is already the case."""
    primary = spec.primary
    if primary is None:
        raise EngineError("a replica spec needs its primary", permanent=True)
    if not spec.replication_password:
        raise EngineError("a replica needs the branch's replication password", permanent=True)
    host = loopback_for(primary.host)
    status = slave_status(conn)
    configured = (
        status is not None
        and status["Master_Host"] == host
        and int(status["Master_Port"]) == primary.port
        and status["Master_User"] == REPLICATION_USER
    )
    if not configured:
        _exec(conn, "STOP SLAVE")
        _exec(
            conn,
            "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, "
            "MASTER_PASSWORD = %s, MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = slave_pos",
            (host, primary.port, REPLICATION_USER, spec.replication_password),
        )
        _exec(conn, "START SLAVE")
        return
    assert status is not None
    if status["Slave_IO_Running"] == "No" or status["Slave_SQL_Running"] == "No":
        _exec(conn, "START SLAVE")
