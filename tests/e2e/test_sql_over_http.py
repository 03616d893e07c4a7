"""PlanetScale's HTTP SQL API on real MariaDB branches: the serverless driver
``@planetscale/database`` itself (run with Node.js), and the wire shapes, authentication,
networks, expiry, replicas and safe migrations checked over plain HTTP."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from moonbase.engines.base import SAFE_MIGRATIONS_MESSAGE

from harness import Moonbase, wait_for

ORG = "/organizations/acme/databases"
DRIVER = Path(__file__).parent / "driver"
EXECUTE = "/psdb.v1alpha1.Database/Execute"


def password(mb: Moonbase, db: str, **body: Any) -> dict[str, Any]:
    body.setdefault("role", "admin")
    r = mb.http.post(f"{ORG}/{db}/branches/main/passwords", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def basic(user: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def sql(
    mb: Moonbase, cred: dict[str, Any], query: str, session: Any = None, **client: Any
) -> httpx.Response:
    with httpx.Client(base_url=mb.url, timeout=30, **client) as http:
        return http.post(
            EXECUTE,
            json={"query": query, "session": session},
            headers=basic(cred["username"], cred["plain_text"]),
        )


def values(row: dict[str, Any]) -> list[bytes | None]:
    raw = base64.b64decode(row["values"])
    found: list[bytes | None] = []
    for length in map(int, row["lengths"]):
        if length < 0:
            found.append(None)
            continue
        found.append(raw[:length])
        raw = raw[length:]
    return found


def node_driver() -> Path:
    """The pinned driver, installed with npm on first use (``./dev test`` installs Node.js)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "Node.js and npm are needed to run PlanetScale's driver (./dev test)"
    if not (DRIVER / "node_modules" / "@planetscale" / "database").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=DRIVER, check=True, timeout=300,
        )  # fmt: skip
    return Path(node)


@pytest.fixture
def mysql_db(moonbase: Moonbase) -> Moonbase:
    moonbase.create_database("app", "mysql")
    moonbase.wait_ready("app")
    return moonbase


def test_planetscale_serverless_driver(mysql_db: Moonbase) -> None:
    node = node_driver()
    cred = password(mysql_db, "app")
    host = mysql_db.url.removeprefix("http://")
    url = f"http://{cred['username']}:{cred['plain_text']}@{host}"
    bad = f"http://{cred['username']}:wrong@{host}"
    run = subprocess.run(
        [str(node), "run.mjs", url, bad], cwd=DRIVER, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)

    assert out["insert"] == {"insertId": "1", "rowsAffected": 1}
    select = out["select"]
    assert select["headers"] == ["id", "name", "price", "tags", "data", "made", "n", "note"]
    assert select["types"] == {
        "id": "INT64", "name": "VARCHAR", "price": "DECIMAL", "tags": "TEXT",
        "data": "VARBINARY", "made": "DATETIME", "n": "INT32", "note": "TEXT",
    }  # fmt: skip
    # MariaDB's JSON is a LONGTEXT, so the driver hands it over as text
    assert select["row"] == {
        "id": "1", "name": "café ☕ 'quoted'", "price": "9.50", "tags": '{"a":[1,2]}',
        "data": [97, 98, 0, 99], "made": "2026-11-28 10:00:00", "n": 42, "note": None,
    }  # fmt: skip
    assert out["arrays"] == [["1", "café ☕ 'quoted'"]]
    assert out["missing"]["name"] == "DatabaseError" and out["missing"]["code"] == "NOT_FOUND"
    assert "doesn't exist" in out["missing"]["message"]
    assert out["duplicate"]["code"] == "ALREADY_EXISTS"
    assert out["rolledBack"]["message"] == "changed my mind"
    assert out["insideTransaction"] == "2"  # count(*) is a BIGINT: a string, as on PlanetScale
    assert out["names"] == ["café ☕ 'quoted'", "kept"]  # "never" was rolled back
    assert out["client"] == 2  # 1 + 1 is an INT (a number); count(*) a BIGINT (a string)
    assert out["badPassword"]["name"] == "DatabaseError"
    assert out["badPassword"]["status"] == 401 and out["badPassword"]["code"] == "UNAUTHENTICATED"
    assert out["isDatabaseError"] is True


def test_wire_shapes_sessions_and_refusals(mysql_db: Moonbase) -> None:
    mb = mysql_db
    cred = password(mb, "app")
    created = sql(mb, cred, "CREATE TABLE t (id int unsigned PRIMARY KEY, b blob, e enum('x','y'))")
    assert created.status_code == 200, created.text
    assert "error" not in created.json() and created.json()["result"] == {}
    # DDL over HTTP has the schema read again at once (not at the once-a-minute refresh)
    def counted() -> bool:
        return mb.database("app")["default_branch_table_count"] == 1

    wait_for(counted, 5, "the new table to be counted")

    inserted = sql(mb, cred, "INSERT INTO t VALUES (1, NULL, 'y'), (2, x'00ff', NULL)").json()
    assert inserted["result"] == {"rowsAffected": "2"}
    body = sql(mb, cred, "SELECT id, b, e FROM t ORDER BY id").json()
    fields = body["result"]["fields"]
    assert [(f["name"], f["type"], f["table"]) for f in fields] == [
        ("id", "UINT32", "t"), ("b", "BLOB", "t"), ("e", "ENUM", "t")]  # fmt: skip
    assert fields[1]["charset"] == 63  # binary
    rows = body["result"]["rows"]
    assert rows[0]["lengths"] == ["1", "-1", "1"]
    assert [values(r) for r in rows] == [[b"1", None, b"y"], [b"2", b"\x00\xff", None]]
    assert isinstance(body["timing"], float) and isinstance(body["session"], dict)

    # a transaction over several calls: what it wrote is seen inside it and gone after ROLLBACK
    session = sql(mb, cred, "BEGIN").json()["session"]
    assert session["inTransaction"] is True
    session = sql(mb, cred, "DELETE FROM t", session).json()["session"]
    inside = sql(mb, cred, "SELECT count(*) FROM t", session).json()
    assert values(inside["result"]["rows"][0]) == [b"0"]
    session = sql(mb, cred, "ROLLBACK", inside["session"]).json()["session"]
    assert session["inTransaction"] is False
    after = sql(mb, cred, "SELECT count(*) FROM t").json()  # another session
    assert values(after["result"]["rows"][0]) == [b"2"]
    # session variables stay with their session
    session = sql(mb, cred, "SET @mine = 7").json()["session"]
    mine = sql(mb, cred, "SELECT @mine", session).json()
    assert values(mine["result"]["rows"][0]) == [b"7"]

    error = sql(mb, cred, "SELEC 1").json()
    assert (
        error["error"]["code"] == "INVALID_ARGUMENT" and "(errno 1064)" in error["error"]["message"]
    )

    # refusals, in PlanetScale's error shape
    wrong = sql(mb, {**cred, "plain_text": "nope"}, "SELECT 1")
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthenticated"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    with httpx.Client(base_url=mb.url) as http:
        anonymous = http.post(EXECUTE, json={"query": "SELECT 1"})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"

    # networks: checked against the HTTP client's address
    narrow = password(mb, "app", cidrs=["127.0.0.1/32"])
    local2 = {"transport": httpx.HTTPTransport(local_address="127.0.0.2")}
    assert sql(mb, narrow, "SELECT 1").status_code == 200
    refused = sql(mb, narrow, "SELECT 1", **local2)
    assert refused.status_code == 401 and "127.0.0.2" in refused.json()["message"]

    # expiry
    short = password(mb, "app", ttl=3)  # long enough to be used once even on a busy machine
    assert sql(mb, short, "SELECT 1").status_code == 200
    wait_for(lambda: sql(mb, short, "SELECT 1").status_code == 401, 10, "the password to expire")
    expired = sql(mb, short, "SELECT 1")
    assert expired.status_code == 401 and "expired" in expired.json()["message"]

    # safe migrations: the server's refusal names it, over HTTP too
    assert mb.http.post(f"{ORG}/app/branches/main/safe-migrations").status_code == 200
    refused_ddl = sql(mb, cred, "ALTER TABLE t ADD COLUMN c int").json()
    assert refused_ddl["error"]["code"] == "PERMISSION_DENIED"
    assert SAFE_MIGRATIONS_MESSAGE in refused_ddl["error"]["message"]
    assert "error" not in sql(mb, cred, "INSERT INTO t (id) VALUES (3)").json()

    # a deleted password stops working at once
    assert mb.http.delete(f"{ORG}/app/branches/main/passwords/{cred['id']}").status_code == 204
    assert sql(mb, cred, "SELECT 1").status_code == 401


def test_replica_password_reads_from_a_replica(moonbase: Moonbase) -> None:
    moonbase.create_database("ha", "mysql", replicas=2)
    moonbase.wait_ready("ha")
    writer = password(moonbase, "ha")
    reader = password(moonbase, "ha", role="reader", replica=True)
    assert "error" not in sql(moonbase, writer, "CREATE TABLE r (id int PRIMARY KEY)").json()
    assert "error" not in sql(moonbase, writer, "INSERT INTO r VALUES (5)").json()

    def replicated() -> Any:
        body = sql(moonbase, reader, "SELECT id, @@read_only FROM r").json()
        return body.get("result", {}).get("rows")

    rows = wait_for(replicated, 30, "the row on the replica")
    assert values(rows[0]) == [b"5", b"1"]  # read-only: a replica answered
    primary = sql(moonbase, writer, "SELECT @@read_only").json()["result"]["rows"]
    assert values(primary[0]) == [b"0"]


def test_postgresql_roles_are_not_served(moonbase: Moonbase) -> None:
    moonbase.create_database("pg", "postgresql")
    moonbase.wait_ready("pg")
    r = moonbase.http.post(f"{ORG}/pg/branches/main/roles", json={"inherited_roles": ["postgres"]})
    role = r.json()
    answer = sql(
        moonbase, {"username": role["username"], "plain_text": role["password"]}, "SELECT 1"
    )
    assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"
