"""MariaDBEngine against real servers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pymysql
import pytest

from moonbase.engines.base import (
    Credential,
    CredentialRole,
    Engine,
    EngineError,
    RunAs,
    ServerSpec,
)
from moonbase.engines.mysql import MariaDBEngine
from moonbase.engines.process import pids_under

if TYPE_CHECKING:
    from conftest import Servers

USER = "pscale_api_ab12.k3j4h5g6f7d8"
PASSWORD = "pscale_pw_Tr0ub4dor&3-'quote'"

Conn = Any  # pymysql.connections.Connection


def login(spec: ServerSpec, user: str, password: str, database: str | None = None) -> Conn:
    return pymysql.connect(
        host="127.0.0.1",
        port=spec.port,
        user=user,
        password=password,
        database=database,
        autocommit=True,
        connect_timeout=5,
        ssl_disabled=True,
    )


def query(conn: Conn, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def test_template_has_socket_only_root_and_no_binlog(
    mariadb: Engine, template_for, run_as: RunAs | None
):
    template: Path = template_for(mariadb)
    data = template / "data"
    assert (data / "mysql").is_dir()
    assert not list(data.glob("mysql-bin.*"))
    assert not (template / "my.cnf").exists()
    assert not (template / "run" / "mysqld.pid").exists()
    if run_as is not None:
        assert data.stat().st_uid == run_as.uid


def test_lifecycle_and_adoption(maria_servers: Servers, run_as: RunAs | None):
    engine = maria_servers.engine
    assert isinstance(engine, MariaDBEngine)
    spec = maria_servers.primary()
    pid = engine.running_pid(spec)
    assert pid is not None
    assert engine.start(spec) == pid

    fresh = MariaDBEngine(engine.mariadbd, engine.install_db, engine.version, run_as)
    maria_servers.wait_until(lambda: fresh.running_pid(spec) == pid, what="pid file")
    accounts = set(fresh.admin_query(spec, "SELECT User, Host FROM mysql.global_priv"))
    assert accounts == {
        ("root", "localhost"),
        ("mariadb.sys", "localhost"),
        ("moonbase_repl", "127.0.0.1"),
    }
    assert fresh.admin_query(spec, "SELECT @@character_set_server, @@log_bin, @@server_id") == [
        ("utf8mb4", 1, 1)
    ]
    assert ("app_db",) in fresh.admin_query(spec, "SHOW DATABASES")

    with pytest.raises(pymysql.err.OperationalError):
        login(spec, "root", "")  # root exists on the private socket only

    engine.stop(spec)
    assert engine.running_pid(spec) is None
    assert pids_under(spec.root) == []
    engine.stop(spec)

    engine.configure(spec)
    engine.start(spec)
    engine.wait_ready(spec, 10.0)
    engine.bootstrap_primary(spec)  # idempotent on an existing primary
    engine.stop(spec)
    assert pids_under(spec.root) == []
    log = (spec.root / "mariadb.log").read_text()
    assert "[ERROR]" not in log and "Permission denied" not in log, log


def test_primary_with_two_replicas(maria_servers: Servers):
    engine = maria_servers.engine
    primary = maria_servers.primary()
    replicas = [maria_servers.replica(primary, 2), maria_servers.replica(primary, 3)]
    engine.admin_query(primary, "CREATE TABLE app_db.moons (id int PRIMARY KEY, name text)")
    engine.admin_query(primary, "INSERT INTO app_db.moons VALUES (1, 'Io')")
    engine.apply_credential(
        primary, Credential(USER, engine.make_verifier(USER, PASSWORD), CredentialRole.READWRITER)
    )
    for replica in replicas:
        maria_servers.wait_until(
            lambda r=replica: (
                engine.admin_query(
                    r, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'moons'"
                )
                == [(1,)]
                and engine.admin_query(r, "SELECT name FROM app_db.moons") == [("Io",)]
            ),
            what="row on replica",
        )
        status = engine.replica_status(replica)
        assert status.streaming, status.detail
        assert engine.admin_query(replica, "SELECT @@read_only, @@server_id") == [
            (1, replica.server_id)
        ]
        maria_servers.wait_until(
            lambda r=replica: (
                engine.admin_query(r, f"SELECT 1 FROM mysql.global_priv WHERE User = '{USER}'")
                == [(1,)]
            ),
            what="user",
        )
        with login(replica, USER, PASSWORD, "app_db") as conn:
            assert query(conn, "SELECT id FROM moons") == [(1,)]
            with pytest.raises(pymysql.err.OperationalError, match="read-only"):
                query(conn, "INSERT INTO moons VALUES (2, 'Europa')")

    # after a restart the replica carries on from its own position
    engine.stop(replicas[0])
    engine.admin_query(primary, "INSERT INTO app_db.moons VALUES (3, 'Ganymede')")
    engine.start(replicas[0])
    engine.wait_ready(replicas[0], 10.0)
    maria_servers.wait_until(
        lambda: engine.admin_query(replicas[0], "SELECT COUNT(*) FROM app_db.moons") == [(2,)],
        what="catch up",
    )
    assert engine.replica_status(replicas[0]).streaming


def test_verifier_is_native_password_hash(mariadb: Engine):
    assert mariadb.make_verifier(USER, "password") == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
    assert re.fullmatch(r"\*[0-9A-F]{40}", mariadb.make_verifier(USER, PASSWORD))


@pytest.mark.parametrize(
    ("role", "can_select", "can_insert", "can_create"),
    [
        (CredentialRole.READER, True, False, False),
        (CredentialRole.WRITER, False, True, False),
        (CredentialRole.READWRITER, True, True, False),
        (CredentialRole.ADMIN, True, True, True),
    ],
)
def test_roles(
    maria_servers: Servers,
    role: CredentialRole,
    can_select: bool,
    can_insert: bool,
    can_create: bool,
):
    engine = maria_servers.engine
    spec = maria_servers.primary()
    engine.admin_query(spec, "CREATE TABLE app_db.t (x int)")
    engine.admin_query(spec, "CREATE DATABASE appXdb")  # matches `app_db` if _ is unescaped
    engine.admin_query(spec, "CREATE TABLE appXdb.t (x int)")
    credential = Credential(USER, engine.make_verifier(USER, PASSWORD), role)
    engine.apply_credential(spec, credential)
    engine.apply_credential(spec, credential)  # idempotent

    def allowed(sql: str) -> bool:
        try:
            query(conn, sql)
        except pymysql.err.OperationalError as exc:
            assert exc.args[0] in (1142, 1044), exc  # command denied / access denied
            return False
        return True

    with login(spec, USER, PASSWORD) as conn:
        assert allowed("SELECT * FROM app_db.t") is can_select
        assert allowed("INSERT INTO app_db.t VALUES (1)") is can_insert
        assert allowed("CREATE TABLE app_db.new_table (x int)") is can_create
        assert not allowed("SELECT * FROM appXdb.t")
        assert not allowed("SELECT * FROM mysql.global_priv")
    grants = " ".join(r[0] for r in engine.admin_query(spec, f"SHOW GRANTS FOR '{USER}'@'%'"))
    assert "GRANT OPTION" not in grants


def test_role_change_and_password_rotation(maria_servers: Servers):
    engine = maria_servers.engine
    spec = maria_servers.primary()
    engine.admin_query(spec, "CREATE TABLE app_db.t (x int)")
    engine.apply_credential(
        spec, Credential(USER, engine.make_verifier(USER, PASSWORD), CredentialRole.ADMIN)
    )
    engine.apply_credential(
        spec, Credential(USER, engine.make_verifier(USER, "rotated"), CredentialRole.READER)
    )
    with pytest.raises(pymysql.err.OperationalError):
        login(spec, USER, PASSWORD)
    with login(spec, USER, "rotated", "app_db") as conn:
        assert query(conn, "SELECT * FROM t") == []
        with pytest.raises(pymysql.err.OperationalError):
            query(conn, "INSERT INTO t VALUES (1)")
    with pytest.raises(EngineError) as reserved:
        engine.apply_credential(
            spec, Credential("root", engine.make_verifier("root", "x"), CredentialRole.ADMIN)
        )
    assert reserved.value.permanent
    with pytest.raises(EngineError) as plaintext:
        engine.apply_credential(spec, Credential(USER, "not-a-hash", CredentialRole.ADMIN))
    assert plaintext.value.permanent


def test_drop_credential_ends_sessions(maria_servers: Servers):
    engine = maria_servers.engine
    spec = maria_servers.primary()
    engine.apply_credential(
        spec, Credential(USER, engine.make_verifier(USER, PASSWORD), CredentialRole.READWRITER)
    )
    session = login(spec, USER, PASSWORD, "app_db")
    assert query(session, "SELECT 1") == [(1,)]
    engine.drop_credential(spec, USER)
    with pytest.raises(pymysql.err.OperationalError):
        query(session, "SELECT 1")
    with pytest.raises(pymysql.err.OperationalError):
        login(spec, USER, PASSWORD)
    assert engine.admin_query(spec, f"SELECT 1 FROM mysql.global_priv WHERE User = '{USER}'") == []
    engine.drop_credential(spec, USER)  # idempotent
    assert PASSWORD not in (spec.root / "mariadb.log").read_text()
