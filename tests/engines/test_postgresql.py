"""PostgreSQLEngine against real servers (the bundled 18 and, where installed, Debian's 15)."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from moonbase.engines.base import Credential, Engine, EngineError, RunAs, ServerRole, ServerSpec
from moonbase.engines.postgresql import PostgreSQLEngine
from moonbase.engines.process import pids_under

if TYPE_CHECKING:
    from conftest import Servers

USER = "pscale_api_ab12.k3j4h5g6f7d8"
PASSWORD = "pscale_pw_Tr0ub4dor&3-'quote'"


def login(spec: ServerSpec, user: str, password: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host="127.0.0.1",
        port=spec.port,
        user=user,
        password=password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )


def test_template_is_a_clean_stopped_cluster(pg: Engine, template_for, run_as: RunAs | None):
    template: Path = template_for(pg)
    data = template / "data"
    assert (data / "PG_VERSION").read_text().strip() == pg.version
    for absent in ("postmaster.pid", "moonbase.conf", "standby.signal"):
        assert not (data / absent).exists(), absent
    assert "include_if_exists = 'moonbase.conf'" in (data / "postgresql.conf").read_text()
    hba = (data / "pg_hba.conf").read_text()
    assert re.search(r"^local\s+all\s+all\s+trust", hba, re.M)
    assert re.search(r"^host\s+all\s+all\s+0\.0\.0\.0/0\s+scram-sha-256", hba, re.M)
    assert not re.search(r"^host.*trust", hba, re.M)
    run_dir = (template / "run").stat()
    assert stat.S_IMODE(run_dir.st_mode) == 0o700
    if run_as is not None:
        assert run_dir.st_uid == run_as.uid
        assert data.stat().st_uid == run_as.uid


def test_lifecycle_and_adoption(pg_servers: Servers, run_as: RunAs | None):
    pg = pg_servers.engine
    assert isinstance(pg, PostgreSQLEngine)
    spec = pg_servers.primary()
    pid = pg.running_pid(spec)
    assert pid is not None
    assert pg.start(spec) == pid  # already running: same server

    # a fresh engine object (Moonbase restarted) adopts the server from its pid file
    fresh = PostgreSQLEngine(pg.bin_dir, pg.version, run_as)
    assert fresh.running_pid(spec) == pid
    fresh.wait_ready(spec, 5.0)
    assert fresh.admin_query(spec, "SELECT current_user") == [("moonbase_admin",)]

    # a pid file that names another process is not trusted
    other = pg_servers.spec("other")
    pg.clone_template(pg_servers.template, other.root)
    (other.root / "data" / "postmaster.pid").write_text(f"{pid}\n{other.root / 'data'}\n")
    assert pg.running_pid(other) is None
    # ... and it does not stop that folder's own server from starting (pid reused after a crash)
    pg.configure(other)
    other_pid = pg.start(other)
    pg.wait_ready(other, 10.0)
    assert other_pid != pid and pg.running_pid(other) == other_pid
    pg.stop(other)

    # PlanetScale's default role: not a superuser, owns the postgres database
    rows = pg.admin_query(
        spec,
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
        "rolbypassrls FROM pg_roles WHERE rolname = 'postgres'",
    )
    assert rows == [(False, True, True, True, True)]
    assert pg.admin_query(
        spec, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'postgres'"
    ) == [("postgres",)]
    granted = {
        r[0]
        for r in pg.admin_query(
            spec,
            "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
            "WHERE m.member = 'postgres'::regrole",
        )
    }
    assert {"pg_read_all_data", "pg_write_all_data", "pg_monitor"} <= granted

    # the internal superuser is not reachable over TCP
    with pytest.raises(psycopg.OperationalError):
        login(spec, "moonbase_admin", "")

    pg.stop(spec)
    assert pg.running_pid(spec) is None
    assert pids_under(spec.root) == []
    pg.stop(spec)  # idempotent

    # a cleanly stopped server starts again from the same folder
    pg.configure(spec)
    pg.start(spec)
    pg.wait_ready(spec, 10.0)
    pg.stop(spec)
    assert pids_under(spec.root) == []


def test_primary_with_two_streaming_replicas(pg_servers: Servers):
    pg = pg_servers.engine
    primary = pg_servers.primary()
    replicas = [pg_servers.replica(primary, 2), pg_servers.replica(primary, 3)]
    slots = pg.admin_query(primary, "SELECT slot_name FROM pg_replication_slots ORDER BY 1")
    assert slots == [("replica_2",), ("replica_3",)]

    pg.admin_query(primary, "CREATE TABLE moons (id int PRIMARY KEY, name text)")
    pg.admin_query(primary, "INSERT INTO moons VALUES (1, 'Io')")
    for replica in replicas:
        pg_servers.wait_until(
            lambda r=replica: (
                pg.admin_query(r, "SELECT to_regclass('moons') IS NOT NULL") == [(True,)]
                and pg.admin_query(r, "SELECT name FROM moons") == [("Io",)]
            ),
            what="row on replica",
        )
        status = pg.replica_status(replica)
        assert status.streaming, status.detail
        with pytest.raises(EngineError, match="read-only"):
            pg.admin_query(replica, "INSERT INTO moons VALUES (2, 'Europa')")

    # removing a replica for good: stop it, then drop its slot on the primary
    pg.stop(replicas[1])
    assert not pg.replica_status(replicas[1]).streaming
    pg_servers.wait_until(
        lambda: (
            pg.admin_query(
                primary, "SELECT active FROM pg_replication_slots WHERE slot_name = 'replica_3'"
            )
            == [(False,)]
        ),
        what="slot inactive",
    )
    pg.forget_replica(replicas[1])
    pg.forget_replica(replicas[1])  # idempotent
    assert pg.admin_query(primary, "SELECT slot_name FROM pg_replication_slots") == [("replica_2",)]


def test_replica_started_before_primary_catches_up(pg_servers: Servers):
    """Start order must not matter: the slot is created once the primary answers."""
    pg = pg_servers.engine
    primary = pg_servers.spec("primary")
    replica = pg_servers.spec("replica2", role=ServerRole.REPLICA, server_id=2, primary=primary)
    pg_servers.create(replica)  # the primary does not even exist yet
    assert not pg.replica_status(replica).streaming
    pg_servers.create(primary)
    pg.admin_query(primary, "CREATE TABLE late (x int)")
    pg_servers.wait_until(lambda: pg.replica_status(replica).streaming, what="streaming")
    pg_servers.wait_until(
        lambda: pg.admin_query(replica, "SELECT to_regclass('late') IS NOT NULL") == [(True,)],
        what="table on replica",
    )


def test_verifier_is_scram_and_never_plaintext(pg: Engine):
    verifier = pg.make_verifier(USER, PASSWORD)
    assert re.fullmatch(
        r"SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:"
        r"[A-Za-z0-9+/=]{44}",
        verifier,
    )
    assert PASSWORD not in verifier
    assert pg.make_verifier(USER, PASSWORD) != verifier  # fresh salt every time


def test_credentials_and_inherited_roles(pg_servers: Servers):
    pg = pg_servers.engine
    spec = pg_servers.primary()
    pg.admin_query(
        spec,
        "CREATE TABLE planets (id int PRIMARY KEY); "
        "ALTER TABLE planets OWNER TO postgres; INSERT INTO planets VALUES (1)",
    )

    bare = Credential(USER, pg.make_verifier(USER, PASSWORD))
    pg.apply_credential(spec, bare)
    pg.apply_credential(spec, bare)  # idempotent
    with login(spec, USER, PASSWORD) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM planets")
    with pytest.raises(psycopg.OperationalError):
        login(spec, USER, "wrong")

    reader = Credential(
        USER, pg.make_verifier(USER, PASSWORD), inherited_roles=("pg_read_all_data",)
    )
    pg.apply_credential(spec, reader)
    with login(spec, USER, PASSWORD) as conn:
        assert conn.execute("SELECT id FROM planets").fetchall() == [(1,)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO planets VALUES (2)")

    owner = Credential(USER, pg.make_verifier(USER, "new password"), inherited_roles=("postgres",))
    pg.apply_credential(spec, owner)
    with pytest.raises(psycopg.OperationalError):
        login(spec, USER, PASSWORD)  # the password was rotated
    with login(spec, USER, "new password") as conn:
        conn.execute("CREATE TABLE mine (x int)")
        conn.execute("INSERT INTO planets VALUES (2)")
    members = pg.admin_query(
        spec,
        "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON "
        f"r.oid = m.roleid WHERE m.member = '\"{USER}\"'::regrole",
    )
    assert members == [("postgres",)]  # pg_read_all_data was revoked

    with pytest.raises(EngineError) as bad:
        pg.apply_credential(
            spec, Credential(USER, bare.verifier, inherited_roles=("pg_superuser",))
        )
    assert bad.value.permanent
    with pytest.raises(EngineError) as reserved:
        pg.apply_credential(spec, Credential("moonbase_admin", bare.verifier))
    assert reserved.value.permanent
    log = (spec.root / "postgresql.log").read_text()
    assert PASSWORD not in log and "new password" not in log and "SCRAM-SHA-256$" not in log
    if int(pg.version) < 17:
        with pytest.raises(EngineError, match="pg_maintain") as missing:
            pg.apply_credential(
                spec, Credential(USER, bare.verifier, inherited_roles=("pg_maintain",))
            )
        assert missing.value.permanent


def test_drop_credential_ends_sessions_and_keeps_objects(pg_servers: Servers):
    pg = pg_servers.engine
    spec = pg_servers.primary()
    pg.apply_credential(
        spec, Credential(USER, pg.make_verifier(USER, PASSWORD), inherited_roles=("postgres",))
    )
    session = login(spec, USER, PASSWORD)
    session.execute("CREATE TABLE left_behind (x int)")

    # what it owns must be given away first: that is the caller's decision (drop_owned)
    with pytest.raises(EngineError, match="Role is still referenced") as refused:
        pg.drop_credential(spec, USER)
    assert refused.value.permanent
    assert session.execute("SELECT 1").fetchone() == (1,)  # refused before anything changed
    pg.drop_owned(spec, USER, "postgres")
    pg.drop_credential(spec, USER)
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    session.close()
    assert pg.admin_query(spec, f"SELECT 1 FROM pg_roles WHERE rolname = '{USER}'") == []
    assert pg.admin_query(
        spec, "SELECT tableowner FROM pg_tables WHERE tablename = 'left_behind'"
    ) == [("postgres",)]
    with pytest.raises(psycopg.OperationalError):
        login(spec, USER, PASSWORD)
    pg.drop_credential(spec, USER)  # idempotent
    with pytest.raises(EngineError):
        pg.drop_credential(spec, "postgres")


def test_replication_uses_the_same_credentials(pg_servers: Servers):
    """Logins are part of the cluster, so they work on replicas too."""
    pg = pg_servers.engine
    primary = pg_servers.primary()
    replica = pg_servers.replica(primary, 2)
    pg.apply_credential(
        primary,
        Credential(USER, pg.make_verifier(USER, PASSWORD), inherited_roles=("pg_read_all_data",)),
    )
    pg_servers.wait_until(
        lambda: (
            pg.admin_query(replica, f"SELECT 1 FROM pg_roles WHERE rolname = '{USER}'") == [(1,)]
        ),
        what="role",
    )
    with login(replica, USER, PASSWORD) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
