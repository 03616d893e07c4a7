"""PostgreSQL guards against real servers: safe migrations, client networks (pg_hba), and
giving a role's objects away before it is dropped."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

import psycopg
import pytest

from moonbase.engines.base import AccessRule, Credential, Engine, EngineError, ServerSpec

if TYPE_CHECKING:
    from conftest import Servers

USER = "pscale_api_ab12.k3j4h5g6f7d8"
OTHER = "pscale_api_zz99.other"
PASSWORD = "pscale_pw_Tr0ub4dor&3-'quote'"
SAFE = "Data Definition Language is not supported on branches with safe migrations enabled."


def login(
    spec: ServerSpec, user: str, password: str, port: int | None = None
) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host="127.0.0.1",
        port=port or spec.port,
        user=user,
        password=password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )


def owner_login(pg: Engine, spec: ServerSpec, user: str = USER) -> None:
    pg.apply_credential(
        spec, Credential(user, pg.make_verifier(user, PASSWORD), inherited_roles=("postgres",))
    )


@contextmanager
def relay_from(source_address: str, target_port: int) -> Iterator[int]:
    """A TCP relay on 127.0.0.1 whose connections to the server leave from
    ``source_address``, so the server sees clients coming from there. Yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            upstream.bind((source_address, 0))
            upstream.connect(("127.0.0.1", target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


# --- safe migrations ---------------------------------------------------------------------

DDL = [
    "CREATE TABLE t2 (id int)",
    "ALTER TABLE t ADD COLUMN extra int",
    "DROP TABLE t",
    "ALTER TABLE t RENAME TO t_renamed",
    "ALTER TABLE t RENAME COLUMN name TO title",
    "TRUNCATE t",
    "TRUNCATE p",
    "TRUNCATE p_low",
    "CREATE INDEX t_name ON t (name)",
    "DROP TRIGGER moonbase_refuse_truncate ON t",
    "ALTER TABLE t DISABLE TRIGGER ALL",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE SCHEMA s",
    "CREATE VIEW v AS SELECT 1 AS x",
]
DML = [
    "INSERT INTO t VALUES (1, 'a')",
    "UPDATE t SET name = 'b' WHERE id = 1",
    "SELECT count(*) FROM t",
    "DELETE FROM t WHERE id = 1",
    "INSERT INTO p VALUES (1, 5)",
    "REFRESH MATERIALIZED VIEW mv",  # rows, not schema
]


def test_safe_migrations_refuse_ddl_inside_the_server(pg_servers: Servers):
    pg = pg_servers.engine
    spec = pg_servers.primary()
    pg.admin_query(
        spec,
        "SET ROLE postgres; CREATE TABLE t (id int PRIMARY KEY, name text); "
        "CREATE TABLE p (id int, k int) PARTITION BY RANGE (k); "
        "CREATE TABLE p_low PARTITION OF p FOR VALUES FROM (0) TO (10); "
        "CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS n FROM t",
    )
    owner_login(pg, spec)
    pg.set_safe_migrations(spec, True)
    pg.set_safe_migrations(spec, True)  # idempotent

    # the owner role itself (over the socket) and an API login that inherits it
    owner = psycopg.connect(
        host=str(spec.root / "run"), port=spec.port, user="postgres", autocommit=True
    )
    api = login(spec, USER, PASSWORD)
    for conn in (owner, api):
        for statement in DDL:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=SAFE):
                conn.execute(statement)
        for statement in DML:
            conn.execute(statement)
        conn.execute("SET ROLE postgres")  # changes nothing: session_user decides
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=SAFE):
            conn.execute("ALTER TABLE t ADD COLUMN extra int")
        conn.execute("RESET ROLE")

    # our own DDL (deploy requests) still runs, and new tables get the TRUNCATE guard too
    pg.admin_query(spec, "CREATE TABLE deployed (id int); ALTER TABLE deployed OWNER TO postgres")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=SAFE):
        api.execute("TRUNCATE deployed")
    pg.admin_query(spec, "TRUNCATE t")  # the internal admin is never refused

    pg.set_safe_migrations(spec, False)
    pg.set_safe_migrations(spec, False)  # idempotent
    api.execute("ALTER TABLE t ADD COLUMN extra int")
    api.execute("TRUNCATE t, p, deployed")
    owner.execute("CREATE TABLE t3 (id int)")
    assert pg.admin_query(spec, "SELECT count(*) FROM pg_event_trigger") == [(0,)]
    assert pg.admin_query(spec, "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal") == []

    pg.set_safe_migrations(spec, True)  # on again: t3, created while off, is covered
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=SAFE):
        api.execute("TRUNCATE t3")
    owner.close()
    api.close()


def test_safe_migrations_reach_replicas(pg_servers: Servers):
    pg = pg_servers.engine
    primary = pg_servers.primary()
    replica = pg_servers.replica(primary, 2)
    pg.set_safe_migrations(primary, True)
    pg_servers.wait_until(
        lambda: pg.admin_query(replica, "SELECT count(*) FROM pg_event_trigger") == [(2,)],
        what="event triggers on the replica",
    )


# --- client networks -----------------------------------------------------------------------


def can_login(spec: ServerSpec, user: str, source: str) -> bool:
    try:
        if source == "127.0.0.1":
            conn = login(spec, user, PASSWORD)
        else:
            with relay_from(source, spec.port) as port:
                conn = login(spec, user, PASSWORD, port)
                assert conn.execute("SELECT host(inet_client_addr())").fetchone() == (source,)
    except psycopg.OperationalError as exc:
        assert "no pg_hba.conf entry" in str(exc) or "rejects connection" in str(exc), exc
        return False
    conn.close()
    return True


def test_access_rules_restrict_logins_by_network(pg_servers: Servers):
    pg = pg_servers.engine
    spec = pg_servers.primary()
    for user in (USER, OTHER):
        owner_login(pg, spec, user)
    assert can_login(spec, USER, "127.0.0.2")  # no rules: anywhere

    session = login(spec, USER, PASSWORD)
    with relay_from("127.0.0.2", spec.port) as port:
        remote = login(spec, USER, PASSWORD, port)
        pg.set_access_rules(spec, (AccessRule(cidrs=("127.0.0.1/32",), role=USER),))
        pg.set_access_rules(spec, (AccessRule(cidrs=("127.0.0.1/32",), role=USER),))
        with pytest.raises(psycopg.OperationalError):
            remote.execute("SELECT 1")  # its session from a network now refused was ended
    assert session.execute("SELECT 1").fetchone() == (1,)  # allowed sessions stay
    assert can_login(spec, USER, "127.0.0.1")
    assert not can_login(spec, USER, "127.0.0.2")
    assert can_login(spec, OTHER, "127.0.0.2")  # the rule names USER only

    # a rule for every role, plus a role-specific rule that replaces it for that role
    rules = (
        AccessRule(cidrs=("127.0.0.2/32", "10.0.0.0/8")),
        AccessRule(cidrs=("127.0.0.1/32",), role=USER),
    )
    pg.set_access_rules(spec, rules)
    assert can_login(spec, USER, "127.0.0.1") and not can_login(spec, USER, "127.0.0.2")
    assert can_login(spec, OTHER, "127.0.0.2") and not can_login(spec, OTHER, "127.0.0.1")
    # the internal socket is untouched
    assert pg.admin_query(spec, "SELECT 1") == [(1,)]

    # the rules survive a restart: configure renders pg_hba.conf from the stored rules
    pg.stop(spec)
    pg.configure(spec)
    pg.start(spec)
    pg.wait_ready(spec, 10.0)
    assert not can_login(spec, OTHER, "127.0.0.1") and can_login(spec, OTHER, "127.0.0.2")

    pg.set_access_rules(spec, ())
    assert can_login(spec, OTHER, "127.0.0.1") and can_login(spec, USER, "127.0.0.2")
    session.close()

    with pytest.raises(EngineError) as bad:
        pg.set_access_rules(spec, (AccessRule(cidrs=("not-a-network",)),))
    assert bad.value.permanent
    assert can_login(spec, USER, "127.0.0.2")  # nothing was written


# --- giving objects away -------------------------------------------------------------------


def test_drop_owned(pg_servers: Servers):
    pg = pg_servers.engine
    spec = pg_servers.primary()
    for user in (USER, OTHER):
        owner_login(pg, spec, user)
    pg.admin_query(spec, f'CREATE TABLE granted (id int); GRANT SELECT ON granted TO "{USER}"')
    with login(spec, USER, PASSWORD) as conn:
        conn.execute("CREATE TABLE mine (id int)")
        conn.execute("CREATE SCHEMA my_schema")
        conn.execute("CREATE FUNCTION my_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'")

    with pytest.raises(EngineError, match="Role is still referenced and cannot be dropped."):
        pg.drop_owned(spec, USER, None)
    with pytest.raises(EngineError) as missing:
        pg.drop_owned(spec, USER, "no_such_role")
    assert missing.value.permanent
    with pytest.raises(EngineError):
        pg.drop_owned(spec, USER, "moonbase_admin")

    pg.reassign_owned(spec, USER, OTHER)  # the PlanetScale endpoint: same move, role stays
    pg.reassign_owned(spec, OTHER, USER)
    pg.drop_owned(spec, USER, OTHER)
    pg.drop_owned(spec, USER, OTHER)  # idempotent
    owners = pg.admin_query(
        spec,
        "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'mine' UNION ALL "
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'my_schema' "
        "UNION ALL SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'my_fn'",
    )
    assert owners == [(OTHER,)] * 3
    pg.drop_owned(spec, USER, None)  # owns nothing now: fine
    with login(spec, USER, PASSWORD) as conn:  # the role keeps its login...
        conn.execute("SELECT 1")
    acl = "SELECT relacl::text FROM pg_class WHERE relname = 'granted'"
    assert USER in str(pg.admin_query(spec, acl))  # ...and its grants
    pg.drop_credential(spec, USER)  # revokes the grant, which would block DROP ROLE
    assert USER not in str(pg.admin_query(spec, acl))
    assert pg.admin_query(spec, f"SELECT 1 FROM pg_roles WHERE rolname = '{USER}'") == []
    pg.drop_owned(spec, USER, OTHER)  # the role is gone: nothing to do
