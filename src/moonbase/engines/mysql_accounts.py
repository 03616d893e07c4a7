"""MariaDB accounts: PlanetScale password roles, replication account, replica setup.

Only ``mysql_native_password`` hashes (``*`` + upper-hex SHA1(SHA1(pw))) are sent for logins,
so a plaintext never reaches the server, its binlog or its replicas. The one exception is the
replica's ``CHANGE MASTER TO ... MASTER_PASSWORD``: a replica must know the secret to log in,
and MariaDB keeps it in ``master.info`` inside the replica's own private folder.

Grants live on ``<database>.*`` only; in GRANT a database name is a LIKE pattern, so ``_`` and
``%`` are escaped (otherwise ``my_db`` would also grant ``myXdb``). Whether the grants already
match is read from ``mysql.db`` so re-applying an unchanged credential changes nothing (a
REVOKE + GRANT on every pass would make the account briefly powerless).

A credential restricted to networks (``Credential.cidrs``) is one account per network,
``'user'@'10.0.0.0/255.0.0.0'``, each with the same hash and grants, and no ``'user'@'%'``:
MariaDB matches the client address against the account host itself, so a login from anywhere
else is refused before a password is even checked. Changing the networks drops the accounts no
longer wanted and ends their sessions (dropping an account leaves its sessions running).

Safe migrations has no hook inside MariaDB, so it is done with privileges: with
``Credential.ddl`` False the ``admin`` role gets everything on its database except
:data:`DDL_PRIVILEGES`; the server's refusal (``1142 ... command denied``) names safe migrations
through the message catalogue the branch's server speaks (:mod:`.mysql_messages`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any

import pymysql  # type: ignore[import-untyped]  # no stubs are pinned
import pymysql.cursors  # type: ignore[import-untyped]

from moonbase.engines.base import Credential, CredentialRole, EngineError, ServerSpec

REPLICATION_USER = "moonbase_repl"
#: locked account that owns copied views, triggers, routines and events (see mysql_schema)
DEFINER_USER = "moonbase_definer"
RESERVED_USERS = frozenset(
    {"root", "mysql", "mariadb.sys", "PUBLIC", "", REPLICATION_USER, DEFINER_USER}
)
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
#: what safe migrations withholds from ``admin`` (``Credential.ddl`` False): every privilege
#: that changes the schema. TRUNCATE needs DROP in MariaDB, so it is withheld too.
DDL_PRIVILEGES = (
    "Create_priv",
    "Alter_priv",
    "Drop_priv",
    "Index_priv",
    "Create_view_priv",
    "Trigger_priv",
    "Create_routine_priv",
    "Alter_routine_priv",
    "References_priv",
    "Event_priv",
)
#: GRANT's names for mysql.db columns whose name does not simply map
_PRIVILEGE_NAMES = {
    "Create_tmp_table_priv": "CREATE TEMPORARY TABLES",
    "Lock_tables_priv": "LOCK TABLES",
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


def fetch_rows(conn: Conn, query: str, args: Any = None) -> list[dict[str, Any]]:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(query, args)
        return list(cur.fetchall())


def execute(conn: Conn, query: str, args: Any = None) -> None:
    with conn.cursor() as cur:
        cur.execute(query, args)


def _check_username(username: str) -> None:
    if username in RESERVED_USERS or len(username) > _MAX_USER_CHARS:
        raise EngineError(f"invalid or reserved MariaDB user name {username!r}", permanent=True)


def _user_exists(conn: Conn, username: str, host: str = "%") -> bool:
    return bool(
        fetch_rows(
            conn, "SELECT 1 FROM mysql.global_priv WHERE User = %s AND Host = %s", (username, host)
        )
    )


def _set_login(conn: Conn, username: str, host: str, password_hash: str) -> None:
    """CREATE or ALTER the account so that it has exactly this hash and is unlocked."""
    verb = "ALTER" if _user_exists(conn, username, host) else "CREATE"
    execute(
        conn,
        f"{verb} USER %s@%s IDENTIFIED BY PASSWORD %s ACCOUNT UNLOCK",
        (username, host, password_hash),
    )


def hosts_for(cidrs: tuple[str, ...]) -> list[str]:
    """Account hosts for a credential: ``%`` without CIDRs, else one ``a.b.c.d/m.m.m.m`` per
    network (MariaDB's netmask form; it has no prefix-length notation). IPv4 only: MariaDB
    matches netmask hosts against IPv4 client addresses."""
    if not cidrs:
        return ["%"]
    hosts: list[str] = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError as exc:
            raise EngineError(f"invalid CIDR {cidr!r}: {exc}", permanent=True) from exc
        if not isinstance(network, ipaddress.IPv4Network):
            raise EngineError(f"MariaDB accepts IPv4 networks only, not {cidr!r}", permanent=True)
        host = f"{network.network_address}/{network.netmask}"
        if host not in hosts:
            hosts.append(host)
    return hosts


def _host_matches(account_host: str, client_host: str) -> bool:
    """Whether a session from ``client_host`` (PROCESSLIST's ``ip:port``) belongs under an
    account host of ours (``%`` or ``ip/mask``)."""
    if account_host == "%":
        return True
    address, _, port = client_host.rpartition(":")
    if not port.isdigit():
        address = client_host
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False  # "localhost" (socket): never an API login
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip in ipaddress.ip_network(account_host, strict=False)


def _account_hosts(conn: Conn, username: str) -> list[str]:
    rows = fetch_rows(conn, "SELECT Host FROM mysql.global_priv WHERE User = %s", (username,))
    return sorted(str(r["Host"]) for r in rows)


def _kill_sessions(conn: Conn, username: str, keep_hosts: list[str]) -> None:
    """End the user's sessions that no account host in ``keep_hosts`` covers (dropping an
    account leaves its open sessions running)."""
    for row in fetch_rows(
        conn, "SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE USER = %s", (username,)
    ):
        if any(_host_matches(h, str(row["HOST"] or "")) for h in keep_hosts):
            continue
        try:
            execute(conn, f"KILL CONNECTION {int(row['ID'])}")
        except pymysql.err.OperationalError as exc:  # already gone (1094 unknown thread)
            if exc.args[0] != 1094:
                raise


def _wanted_columns(conn: Conn, credential: Credential) -> set[str]:
    """mysql.db privilege columns the credential should have on its database."""
    assert credential.role is not None
    if credential.role is not CredentialRole.ADMIN:
        return set(_ROLE_COLUMNS[credential.role])
    every = {
        str(r["COLUMN_NAME"])
        for r in fetch_rows(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
            "'mysql' AND TABLE_NAME = 'db' AND COLUMN_NAME LIKE %s",
            ("%\\_priv",),
        )
    } - {"Grant_priv"}
    return every if credential.ddl else every - set(DDL_PRIVILEGES)


def _grant_list(columns: set[str]) -> str:
    """GRANT's privilege list for mysql.db columns (``Create_view_priv`` -> ``CREATE VIEW``)."""
    names = []
    for column in sorted(columns):
        name = _PRIVILEGE_NAMES.get(column, column.removesuffix("_priv").replace("_", " "))
        names.append(name.upper())
    return ", ".join(names)


def _apply_grants(conn: Conn, username: str, host: str, database: str, wanted: set[str]) -> bool:
    """Make the account's privileges on ``database`` exactly ``wanted``; unchanged grants are
    left alone (a REVOKE + GRANT on every pass would make the account briefly powerless).
    Returns whether a privilege was taken away."""
    pattern = grant_pattern(database)
    rows = fetch_rows(
        conn,
        "SELECT * FROM mysql.db WHERE Host = %s AND Db = %s AND User = %s",
        (host, pattern, username),
    )
    current = {k for k, v in rows[0].items() if k.endswith("_priv") and v == "Y"} if rows else set()
    if current == wanted:
        return False
    target = f"{quote_ident(pattern)}.*".replace("%", "%%")  # the query also takes args
    if rows:
        execute(conn, f"REVOKE ALL PRIVILEGES ON {target} FROM %s@%s", (username, host))
    execute(conn, f"GRANT {_grant_list(wanted)} ON {target} TO %s@%s", (username, host))
    return bool(current - wanted)


def apply_credential(conn: Conn, credential: Credential, database: str) -> None:
    """Create or update the login as one account per allowed network (same hash, same
    grants), drop the accounts of networks no longer allowed and end their sessions."""
    username = credential.username
    _check_username(username)
    if credential.role is None:
        raise EngineError("a MariaDB credential needs a role", permanent=True)
    if not _HASH.match(credential.verifier):
        raise EngineError("MariaDB credentials need a mysql_native_password hash", permanent=True)
    hosts = hosts_for(credential.cidrs)
    execute(conn, "SET SESSION sql_log_off = 1")  # no general-log line carrying the hash
    wanted = _wanted_columns(conn, credential)
    reduced = False
    for host in hosts:
        _set_login(conn, username, host, credential.verifier)
        reduced |= _apply_grants(conn, username, host, database, wanted)
    if reduced:
        # MariaDB applies database-level privileges to a session only at its next USE: end
        # the open sessions so the reduction (safe migrations) holds for them too
        _kill_sessions(conn, username, [])
    stale = [h for h in _account_hosts(conn, username) if h not in hosts]
    for host in stale:
        execute(conn, "ALTER USER %s@%s ACCOUNT LOCK", (username, host))
    if stale:
        _kill_sessions(conn, username, hosts)
    for host in stale:
        execute(conn, "DROP USER IF EXISTS %s@%s", (username, host))


def drop_credential(conn: Conn, username: str) -> None:
    """Lock every account of the login (no new sessions), kill its sessions, drop them all.
    Idempotent."""
    _check_username(username)
    hosts = _account_hosts(conn, username)
    for host in hosts:
        execute(conn, "ALTER USER %s@%s ACCOUNT LOCK", (username, host))
    _kill_sessions(conn, username, [])
    for host in hosts:
        execute(conn, "DROP USER IF EXISTS %s@%s", (username, host))


def bootstrap_primary(conn: Conn, spec: ServerSpec) -> None:
    """Application database and replication account (idempotent, replicated to replicas)."""
    execute(
        conn,
        f"CREATE DATABASE IF NOT EXISTS {quote_ident(spec.database_name)} "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    )
    if not spec.replication_password:
        return  # nothing can replicate without the secret; replicas report that themselves
    host = loopback_for(spec.host)
    _set_login(conn, REPLICATION_USER, host, native_password_hash(spec.replication_password))
    execute(conn, "GRANT REPLICATION SLAVE ON *.* TO %s@%s", (REPLICATION_USER, host))


def slave_status(conn: Conn) -> dict[str, Any] | None:
    rows = fetch_rows(conn, "SHOW SLAVE STATUS")
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
        execute(conn, "STOP SLAVE")
        execute(
            conn,
            "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, "
            "MASTER_PASSWORD = %s, MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = slave_pos",
            (host, primary.port, REPLICATION_USER, spec.replication_password),
        )
        execute(conn, "START SLAVE")
        return
    assert status is not None
    if status["Slave_IO_Running"] == "No" or status["Slave_SQL_Running"] == "No":
        execute(conn, "START SLAVE")
