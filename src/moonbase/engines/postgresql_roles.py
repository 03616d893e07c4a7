"""PostgreSQL logins: SCRAM verifiers computed here, roles created and dropped idempotently.

Plaintext passwords never reach the server: we send a SCRAM-SHA-256 verifier (RFC 5802/7677,
PostgreSQL's ``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`` format), which the server
stores as is. Even so, statements that carry a verifier run with statement logging off and
with ``log_min_error_statement = panic`` so a failing statement does not write it to the log
(patroni does the same for its role creation).

Usernames are PlanetScale-generated (``pscale_api_ab12.k3j4h5g6f7d8``: dots are normal) and are
always passed through ``psycopg.sql.Identifier``; inherited roles are checked against
PlanetScale's fixed list before they are spliced in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Callable

import psycopg
import psycopg.errors
from psycopg import sql

from moonbase.engines.base import Credential, EngineError

#: the superuser Moonbase administers servers with (socket only, trust)
ADMIN_ROLE = "moonbase_admin"
#: PlanetScale's default role: powerful but not a superuser; owns the ``postgres`` database
DEFAULT_ROLE = "postgres"

#: what PlanetScale lets a role inherit (its ``inherited_roles`` enum)
GRANTABLE_ROLES = frozenset(
    {
        "pg_checkpoint",
        "pg_create_subscription",
        "pg_maintain",
        "pg_monitor",
        "pg_read_all_data",
        "pg_read_all_settings",
        "pg_read_all_stats",
        "pg_signal_backend",
        "pg_stat_scan_tables",
        "pg_use_reserved_connections",
        "pg_write_all_data",
        DEFAULT_ROLE,
    }
)

#: memberships of the default role (the ones a given major version lacks are skipped)
DEFAULT_ROLE_MEMBERSHIPS = (
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_monitor",
    "pg_read_all_settings",
    "pg_read_all_stats",
    "pg_signal_backend",
    "pg_stat_scan_tables",
    "pg_checkpoint",
    "pg_maintain",
    "pg_create_subscription",
    "pg_use_reserved_connections",
)

_MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1; longer names are silently truncated by the server

Connect = Callable[[str], psycopg.Connection[tuple[object, ...]]]


def scram_sha256_verifier(
    password: str, *, salt: bytes | None = None, iterations: int = 4096
) -> str:
    """The verifier PostgreSQL would store for ``password`` (``password_encryption =
    scram-sha-256``). Non-ASCII passwords are NFKC-normalised, which is what SASLprep does for
    every password a client can type; libpq applies the same normalisation when logging in."""
    if not password.isascii():
        password = unicodedata.normalize("NFKC", password)
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _check_username(username: str) -> None:
    if not username or len(username.encode("utf-8")) > _MAX_IDENTIFIER_BYTES:
        raise EngineError(f"invalid PostgreSQL role name {username!r} (1-63 bytes)", permanent=True)
    if username == ADMIN_ROLE or username.startswith("pg_"):
        raise EngineError(f"role name {username!r} is reserved", permanent=True)


def _quiet(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Keep statements carrying verifiers out of the server log (this transaction only)."""
    conn.execute("SET LOCAL log_statement = 'none'")
    conn.execute("SET LOCAL log_min_error_statement = 'panic'")


def role_exists(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


def memberships(conn: psycopg.Connection[tuple[object, ...]], username: str) -> set[str]:
    rows = conn.execute(
        "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
        (username,),
    ).fetchall()
    return {str(row[0]) for row in rows}


def existing_roles(conn: psycopg.Connection[tuple[object, ...]], names: set[str]) -> set[str]:
    rows = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (sorted(names),)
    ).fetchall()
    return {str(row[0]) for row in rows}


def apply_credential(
    conn: psycopg.Connection[tuple[object, ...]], credential: Credential, version: str
) -> None:
    """Create or update the login and make its memberships exactly ``inherited_roles``, in one
    transaction. For the default role ``postgres`` only the password is set: its memberships
    are part of the server's design, not of a credential."""
    username = credential.username
    _check_username(username)
    if not credential.verifier.startswith("SCRAM-SHA-256$"):
        raise EngineError("PostgreSQL credentials need a SCRAM-SHA-256 verifier", permanent=True)
    wanted = set(credential.inherited_roles)
    unknown = wanted - GRANTABLE_ROLES
    if unknown:
        raise EngineError(
            f"roles cannot be inherited: {', '.join(sorted(unknown))}", permanent=True
        )
    role = sql.Identifier(username)
    with conn.transaction():
        missing = wanted - existing_roles(conn, wanted)
        if missing:
            raise EngineError(
                f"PostgreSQL {version} has no role {', '.join(sorted(missing))}", permanent=True
            )
        _quiet(conn)
        verb = sql.SQL("ALTER") if role_exists(conn, username) else sql.SQL("CREATE")
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                verb, role, sql.Literal(credential.verifier)
            )
        )
        if username == DEFAULT_ROLE:
            return
        current = memberships(conn, username)
        for name in sorted(wanted - current):
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(name), role))
        for name in sorted(current - wanted):
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(name), role))


#: the error PlanetScale returns when a role that still owns objects is deleted
STILL_REFERENCED = "Role is still referenced and cannot be dropped."

#: objects (in any database, and databases themselves) owned by a role: pg_shdepend is shared,
#: so one query on any database sees them all
_OWNS_OBJECTS = (
    "SELECT EXISTS (SELECT 1 FROM pg_shdepend WHERE refclassid = 'pg_authid'::regclass "
    "AND refobjid = (SELECT oid FROM pg_roles WHERE rolname = %s) AND deptype = 'o')"
)


def _databases(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname"
    ).fetchall()
    return [str(r[0]) for r in rows]


def owns_objects(conn: psycopg.Connection[tuple[object, ...]], username: str) -> bool:
    return conn.execute(_OWNS_OBJECTS, (username,)).fetchone() == (True,)


def drop_owned(connect: Connect, username: str, successor: str | None) -> None:
    """Hand everything ``username`` owns to ``successor`` in every database (REASSIGN OWNED
    works per database; databases themselves move too). Without a successor, a role that owns
    objects is refused with PlanetScale's error and one that owns nothing is left as it is.
    Idempotent; the role keeps its login and its privileges: they are revoked (DROP OWNED) only
    by :func:`drop_credential`, once the role's sessions are gone, because DROP OWNED would
    also drop any object a live session of the role created in the meantime."""
    _check_username(username)
    if username == DEFAULT_ROLE:
        raise EngineError("the default role postgres cannot give its objects away", permanent=True)
    if successor is not None and (successor == ADMIN_ROLE or successor.startswith("pg_")):
        raise EngineError(f"objects cannot be given to {successor!r}", permanent=True)
    if successor == username:
        raise EngineError("a role cannot be its own successor", permanent=True)
    with connect("postgres") as conn:
        if not role_exists(conn, username):
            return
        if successor is None:
            if owns_objects(conn, username):
                raise EngineError(STILL_REFERENCED, permanent=True)
            return
        if not role_exists(conn, successor):
            raise EngineError(f"successor role {successor!r} does not exist", permanent=True)
        databases = _databases(conn)
    statement = sql.SQL("REASSIGN OWNED BY {} TO {}").format(
        sql.Identifier(username), sql.Identifier(successor)
    )
    for dbname in databases:
        with connect(dbname) as conn:
            conn.execute(statement)


def drop_credential(connect: Connect, username: str) -> None:
    """Block new logins, end the role's sessions, revoke its privileges in every database
    (DROP OWNED, which by then finds only privileges) and drop it. Idempotent. A role that
    still owns objects is refused (STILL_REFERENCED) before anything changes: giving them away
    is the caller's decision, through :func:`drop_owned`."""
    _check_username(username)
    if username == DEFAULT_ROLE:
        raise EngineError("the default role postgres cannot be dropped", permanent=True)
    role = sql.Identifier(username)
    with connect("postgres") as conn:
        if not role_exists(conn, username):
            return
        if owns_objects(conn, username):
            raise EngineError(STILL_REFERENCED, permanent=True)
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(role))
        conn.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE usename = %s AND pid <> pg_backend_pid()",
            (username,),
        )
        databases = _databases(conn)
    for dbname in databases:
        with connect(dbname) as conn, conn.transaction():
            if owns_objects(conn, username):  # created just before its sessions ended
                raise EngineError(STILL_REFERENCED, permanent=True)
            conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
    with connect("postgres") as conn:
        try:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
        except psycopg.errors.DependentObjectsStillExist as exc:
            raise EngineError(STILL_REFERENCED, permanent=True) from exc


def create_default_role(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """PlanetScale's ``postgres`` role: everything an application owner needs, no superuser.
    Runs once while the template is built; idempotent anyway."""
    if not role_exists(conn, DEFAULT_ROLE):
        conn.execute(
            sql.SQL(
                "CREATE ROLE {} NOSUPERUSER CREATEDB CREATEROLE INHERIT LOGIN REPLICATION BYPASSRLS"
            ).format(sql.Identifier(DEFAULT_ROLE))
        )
    present = existing_roles(conn, set(DEFAULT_ROLE_MEMBERSHIPS))
    have = memberships(conn, DEFAULT_ROLE)
    for name in DEFAULT_ROLE_MEMBERSHIPS:
        if name in present and name not in have:
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(name), sql.Identifier(DEFAULT_ROLE))
            )
    conn.execute(
        sql.SQL("ALTER DATABASE postgres OWNER TO {}").format(sql.Identifier(DEFAULT_ROLE))
    )
    conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(DEFAULT_ROLE)))
