"""Branches on real servers, through the API: schema copies checked by introspecting both
servers, safe migrations enforced by the servers, credentials that expire, are limited to
networks and read from replicas, promote/demote with live replicas, and clean deletion."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
import pymysql
import pytest

from moonbase.engines import process
from moonbase.engines.base import SAFE_MIGRATIONS_MESSAGE

from harness import Moonbase, wait_for

ORG = "/organizations/acme/databases"

PG_RICH = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA shop;
CREATE TYPE shop.mood AS ENUM ('happy', 'sad');
CREATE DOMAIN shop.positive AS integer CHECK (VALUE > 0);
CREATE SEQUENCE shop.ticket START 100;
CREATE TABLE shop.customers (
  id bigserial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  mood shop.mood DEFAULT 'happy',
  created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE shop.orders (
  id integer PRIMARY KEY DEFAULT nextval('shop.ticket'),
  customer_id bigint NOT NULL REFERENCES shop.customers(id) ON DELETE CASCADE,
  qty shop.positive NOT NULL,
  note text,
  CONSTRAINT note_short CHECK (length(note) < 200)
);
CREATE INDEX orders_customer ON shop.orders (customer_id) WHERE qty > 1;
CREATE VIEW shop.big_orders AS SELECT id, qty FROM shop.orders WHERE qty > 10;
INSERT INTO shop.customers (email) VALUES ('a@example.com');
"""

MY_RICH = [
    "CREATE TABLE customers (id bigint AUTO_INCREMENT PRIMARY KEY, "
    "email varchar(190) NOT NULL UNIQUE, mood enum('happy','sad') DEFAULT 'happy')",
    "CREATE TABLE orders (id int PRIMARY KEY, customer_id bigint NOT NULL, qty int NOT NULL, "
    "CONSTRAINT qty_positive CHECK (qty > 0), KEY by_customer (customer_id), "
    "FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE)",
    "CREATE VIEW big_orders AS SELECT id, qty FROM orders WHERE qty > 10",
    "CREATE TRIGGER orders_touch BEFORE INSERT ON orders FOR EACH ROW SET NEW.qty = NEW.qty",
    "CREATE FUNCTION twice(x int) RETURNS int DETERMINISTIC RETURN x * 2",
    "INSERT INTO customers (email) VALUES ('a@example.com')",
]

PG_CATALOG = """
SELECT 'rel', n.nspname, c.relname, c.relkind::text FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'shop'
UNION ALL
SELECT 'col', table_name, column_name, data_type || coalesce(column_default, '') || is_nullable
  FROM information_schema.columns WHERE table_schema = 'shop'
UNION ALL
SELECT 'con', conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
  WHERE connamespace = 'shop'::regnamespace
UNION ALL
SELECT 'idx', tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'shop'
UNION ALL
SELECT 'typ', typname, typtype::text, '' FROM pg_type WHERE typnamespace = 'shop'::regnamespace
UNION ALL
SELECT 'ext', extname, '', '' FROM pg_extension
ORDER BY 1, 2, 3, 4
"""

MY_CATALOG = [
    "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s "
    "ORDER BY 1",
    "SELECT table_name, column_name, column_type, is_nullable, column_default "
    "FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 2",
    "SELECT table_name, index_name, column_name, non_unique FROM information_schema.statistics "
    "WHERE table_schema = %s ORDER BY 1, 2, 3",
    "SELECT constraint_name, table_name, constraint_type "
    "FROM information_schema.table_constraints WHERE constraint_schema = %s ORDER BY 1, 2",
    "SELECT constraint_name, check_clause FROM information_schema.check_constraints "
    "WHERE constraint_schema = %s ORDER BY 1",
    "SELECT trigger_name, action_statement FROM information_schema.triggers "
    "WHERE trigger_schema = %s ORDER BY 1",
    "SELECT routine_name, routine_type FROM information_schema.routines "
    "WHERE routine_schema = %s ORDER BY 1",
]


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def pg_connect(cred: dict[str, Any], address: str | None = None, **kw: Any) -> psycopg.Connection:
    host, port = host_port(address or cred["access_host_url"])
    return psycopg.connect(
        host=host, port=port, user=cred["username"], password=cred["password"],
        dbname="postgres", connect_timeout=5, autocommit=True, **kw,
    )  # fmt: skip


def my_connect(
    cred: dict[str, Any], address: str | None = None, **kw: Any
) -> pymysql.connections.Connection:
    host, port = host_port(address or cred["access_host_url"])
    return pymysql.connect(
        host=host, port=port, user=cred["username"], password=cred["plain_text"],
        database=cred["database_name"], ssl_disabled=True, connect_timeout=5, autocommit=True,
        **kw,
    )  # fmt: skip


def credential(mb: Moonbase, db: str, branch: str, kind: str, **body: Any) -> dict[str, Any]:
    if kind == "postgresql":
        body.setdefault("inherited_roles", ["postgres"])
        r = mb.http.post(f"{ORG}/{db}/branches/{branch}/roles", json=body)
        assert r.status_code == 200, r.text
    else:
        body.setdefault("role", "admin")
        r = mb.http.post(f"{ORG}/{db}/branches/{branch}/passwords", json=body)
        assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def run_sql(kind: str, cred: dict[str, Any], statements: list[str]) -> None:
    if kind == "postgresql":
        with pg_connect(cred) as conn:
            for sql in statements:
                conn.execute(sql)  # type: ignore[arg-type]
        return
    conn = my_connect(cred)
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


def catalog(kind: str, cred: dict[str, Any]) -> list[Any]:
    if kind == "postgresql":
        with pg_connect(cred) as conn:
            return list(conn.execute(PG_CATALOG).fetchall())
    conn = my_connect(cred)
    try:
        rows: list[Any] = []
        with conn.cursor() as cur:
            for sql in MY_CATALOG:
                cur.execute(sql, (cred["database_name"],))
                rows.extend(cur.fetchall())
        return rows
    finally:
        conn.close()


def wait_branch_ready(mb: Moonbase, db: str, branch: str) -> dict[str, Any]:
    def ready() -> Any:
        found = mb.branch(db, branch)
        return found if found.get("ready") else None

    return wait_for(ready, 120, f"branch {branch} to be ready", every=0.05)  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_branch_has_the_parents_schema_and_no_data(moonbase: Moonbase, kind: str) -> None:
    moonbase.create_database("app", kind)
    moonbase.wait_ready("app")
    parent = credential(moonbase, "app", "main", kind)
    run_sql(kind, parent, [PG_RICH] if kind == "postgresql" else MY_RICH)

    r = moonbase.http.post(f"{ORG}/app/branches", json={"name": "feature"})
    assert r.status_code == 201, r.text
    branch = wait_branch_ready(moonbase, "app", "feature")
    assert branch["schema_ready"] is True and branch["production"] is False
    assert branch["servers"][0]["address"] != moonbase.branch("app")["servers"][0]["address"]
    child = credential(moonbase, "app", "feature", kind)

    assert catalog(kind, child) == catalog(kind, parent)
    table = "shop.customers" if kind == "postgresql" else "customers"
    if kind == "postgresql":
        with pg_connect(child) as conn:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    else:
        conn = my_connect(child)
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            assert cur.fetchone() == (0,)
        conn.close()

    # the schema endpoint, the diff and lint read the real servers
    schema = moonbase.http.get(f"{ORG}/app/branches/feature/schema").json()["data"]
    assert {t["name"] for t in schema} >= {"customers", "orders"}
    assert all(t["raw"].upper().startswith("CREATE TABLE") for t in schema)
    assert moonbase.http.get(f"{ORG}/app/branches/feature/diff").json() == {"data": []}
    run_sql(kind, child, ["CREATE TABLE loose (a int)", f"ALTER TABLE {table} ADD nick text"])
    diff = moonbase.http.get(f"{ORG}/app/branches/feature/diff").json()["data"]
    assert [d["name"] for d in diff] == (
        ["loose", "shop.customers"] if kind == "postgresql" else ["customers", "loose"]
    )
    changed = next(d for d in diff if d["name"].endswith("customers"))
    assert [line for line in changed["raw"].splitlines() if not line.startswith(" ")] == [
        "+    nick text," if kind == "postgresql" else "+  `nick` text DEFAULT NULL,"
    ]
    lint = moonbase.http.get(f"{ORG}/app/branches/feature/schema/lint").json()["data"]
    assert [(e["lint_error"], e["table_name"].split(".")[-1]) for e in lint] == [
        ("NO_UNIQUE_KEY", "loose")
    ]
    assert moonbase.database("app")["development_branches_count"] == 1


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_safe_migrations_block_ddl_for_admin_but_not_writes(moonbase: Moonbase, kind: str) -> None:
    moonbase.create_database("safe", kind)
    moonbase.wait_ready("safe")
    admin = credential(moonbase, "safe", "main", kind)
    run_sql(kind, admin, ["CREATE TABLE t (id int PRIMARY KEY, v int)"])

    r = moonbase.http.post(f"{ORG}/safe/branches/main/safe-migrations")
    assert r.status_code == 200 and r.json()["safe_migrations"] is True
    error = psycopg.Error if kind == "postgresql" else pymysql.MySQLError
    with pytest.raises(error) as refused:
        run_sql(kind, admin, ["ALTER TABLE t ADD COLUMN w int"])
    # the server itself names safe migrations (MariaDB: in its privilege refusal)
    assert SAFE_MIGRATIONS_MESSAGE in str(refused.value)
    run_sql(kind, admin, ["INSERT INTO t VALUES (1, 1)", "SELECT * FROM t"])
    # a credential created while it is on is held to it too
    late = credential(moonbase, "safe", "main", kind)
    with pytest.raises(error) as refused:
        run_sql(kind, late, ["DROP TABLE t"])
    assert SAFE_MIGRATIONS_MESSAGE in str(refused.value)

    r = moonbase.http.delete(f"{ORG}/safe/branches/main/safe-migrations")
    assert r.status_code == 200 and r.json()["safe_migrations"] is False
    run_sql(kind, admin, ["ALTER TABLE t ADD COLUMN w int"])


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_credential_expires_with_its_ttl(moonbase: Moonbase, kind: str) -> None:
    moonbase.create_database("ttl", kind)
    moonbase.wait_ready("ttl")
    cred = credential(moonbase, "ttl", "main", kind, ttl=2)
    run_sql(kind, cred, ["SELECT 1"])
    error = psycopg.Error if kind == "postgresql" else pymysql.MySQLError

    def refused() -> bool:
        try:
            run_sql(kind, cred, ["SELECT 1"])
        except error:
            return True
        return False

    wait_for(refused, 30, "the expired credential to be refused", every=0.2)
    kind_path = "roles" if kind == "postgresql" else "passwords"
    shown = moonbase.http.get(f"{ORG}/ttl/branches/main/{kind_path}/{cred['id']}").json()
    assert shown["expired"] is True


@contextmanager
def relay_from(source_ip: str, target: tuple[str, int]) -> Iterator[tuple[str, int]]:
    """A TCP relay on 127.0.0.1 whose connections to ``target`` come from ``source_ip``, so
    the server sees that address (libpq cannot choose its source address)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(target, source_address=(source_ip, 0))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_cidrs_limit_where_a_credential_connects_from(moonbase: Moonbase, kind: str) -> None:
    moonbase.create_database("nets", kind)
    moonbase.wait_ready("nets")
    cred = credential(moonbase, "nets", "main", kind, cidrs=["127.0.0.1/32"])
    assert cred["cidrs"] == ["127.0.0.1/32"]
    run_sql(kind, cred, ["SELECT 1"])  # from 127.0.0.1
    target = host_port(cred["access_host_url"])
    with relay_from("127.0.0.2", target) as (host, port):
        relayed = {**cred, "access_host_url": f"{host}:{port}"}
        error = psycopg.Error if kind == "postgresql" else pymysql.MySQLError
        with pytest.raises(error):
            run_sql(kind, relayed, ["SELECT 1"])
        # widen the networks: now 127.0.0.2 may connect too
        path = "roles" if kind == "postgresql" else "passwords"
        r = moonbase.http.patch(
            f"{ORG}/nets/branches/main/{path}/{cred['id']}", json={"cidrs": ["127.0.0.0/8"]}
        )
        assert r.status_code == 200, r.text
        run_sql(kind, relayed, ["SELECT 1"])


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_replica_credential_reads_from_a_replica(moonbase: Moonbase, kind: str) -> None:
    moonbase.create_database("reads", kind, replicas=2)
    moonbase.wait_ready("reads")
    writer = credential(moonbase, "reads", "main", kind)
    run_sql(kind, writer, ["CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (7)"])
    extra = {"replica": True} if kind == "postgresql" else {"replica": True, "role": "reader"}
    reader = credential(moonbase, "reads", "main", kind, **extra)
    replicas = [s["address"] for s in moonbase.branch("reads")["servers"][1:]]
    assert reader["access_host_url"] in replicas

    def reads_row() -> bool:
        try:
            if kind == "postgresql":
                with pg_connect(reader) as conn:
                    assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
                    return conn.execute("SELECT id FROM t").fetchone() == (7,)
            conn = my_connect(reader)
            with conn.cursor() as cur:
                cur.execute("SELECT @@read_only")
                assert cur.fetchone() == (1,)
                cur.execute("SELECT id FROM t")
                return cur.fetchone() == (7,)
        except (psycopg.errors.UndefinedTable, pymysql.err.ProgrammingError):
            return False

    wait_for(reads_row, 30, "the replica credential to read the row")


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_promote_demote_and_delete(moonbase: Moonbase, kind: str) -> None:
    moonbase.create_database("shape", kind, replicas=2)
    moonbase.wait_ready("shape")
    assert moonbase.http.post(f"{ORG}/shape/branches", json={"name": "next"}).status_code == 201
    branch = wait_branch_ready(moonbase, "shape", "next")
    assert len(branch["servers"]) == 1
    cred = credential(moonbase, "shape", "next", kind)
    run_sql(kind, cred, ["CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1)"])

    r = moonbase.http.post(f"{ORG}/shape/branches/next/promote")
    assert r.status_code == 200 and r.json()["production"] is True
    branch = wait_branch_ready(moonbase, "shape", "next")
    assert len(branch["servers"]) == 3 and branch["has_replicas"] is True
    folder = moonbase.home / "instances" / branch["id"]
    for server in branch["servers"][1:]:
        replica = {**cred, "access_host_url": server["address"]}

        def has_row(replica: dict[str, Any] = replica) -> bool:
            try:
                if kind == "postgresql":
                    with pg_connect(replica) as conn:
                        return conn.execute("SELECT id FROM t").fetchone() == (1,)
                conn = my_connect(replica)
                with conn.cursor() as cur:
                    cur.execute("SELECT id FROM t")
                    return cur.fetchone() == (1,)
            except (psycopg.Error, pymysql.MySQLError):
                return False

        wait_for(has_row, 60, f"the promoted branch's replica {server['address']}")
    assert moonbase.database("shape")["production_branches_count"] == 2

    r = moonbase.http.post(f"{ORG}/shape/branches/next/demote")
    assert r.status_code == 200 and r.json()["production"] is False
    branch = wait_branch_ready(moonbase, "shape", "next")
    wait_for(lambda: len(moonbase.branch("shape", "next")["servers"]) == 1, 60, "replicas gone")
    wait_for(lambda: not (folder / "1").exists() and not (folder / "2").exists(), 60,
             "replica folders removed")  # fmt: skip
    assert process.pids_under(folder / "1") == [] and process.pids_under(folder / "2") == []

    assert moonbase.http.delete(f"{ORG}/shape/branches/next").status_code == 204
    wait_for(lambda: not folder.exists(), 60, "the branch's files to be removed")
    assert process.pids_under(folder) == []
    assert moonbase.http.get(f"{ORG}/shape/branches/next").status_code == 404
