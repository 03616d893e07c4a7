"""Crash safety: after ``moonbase up`` is SIGKILLed and started again, every database is ready
again (running servers adopted, stopped ones restarted), half-done creations finish and
half-done deletions finish."""

from __future__ import annotations

import psycopg
import pymysql

from moonbase.engines import process

from harness import Moonbase, wait_for


def _count_rows(moonbase: Moonbase, db: str, kind: str, cred: dict) -> int:  # type: ignore[type-arg]
    host, _, port = cred["access_host_url"].rpartition(":")
    if kind == "postgresql":
        with psycopg.connect(
            host=host, port=int(port), user=cred["username"], password=cred["password"],
            dbname="postgres", connect_timeout=5,
        ) as conn:  # fmt: skip
            return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])  # type: ignore[index]
    conn = pymysql.connect(
        host=host, port=int(port), user=cred["username"], password=cred["plain_text"],
        database=db, ssl_disabled=True, connect_timeout=5,
    )  # fmt: skip
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM t")
            return int(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


def _credential(moonbase: Moonbase, db: str, kind: str) -> dict:  # type: ignore[type-arg]
    base = f"/organizations/acme/databases/{db}/branches/main"
    if kind == "postgresql":
        r = moonbase.http.post(f"{base}/roles", json={"inherited_roles": ["postgres"]})
        assert r.status_code == 200, r.text
    else:
        r = moonbase.http.post(f"{base}/passwords", json={"role": "admin"})
        assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _write_row(moonbase: Moonbase, db: str, kind: str, cred: dict) -> None:  # type: ignore[type-arg]
    host, _, port = cred["access_host_url"].rpartition(":")
    if kind == "postgresql":
        with psycopg.connect(
            host=host, port=int(port), user=cred["username"], password=cred["password"],
            dbname="postgres", autocommit=True,
        ) as conn:  # fmt: skip
            conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
            conn.execute("INSERT INTO t VALUES (1)")
        return
    conn = pymysql.connect(
        host=host, port=int(port), user=cred["username"], password=cred["plain_text"],
        database=db, ssl_disabled=True, autocommit=True,
    )  # fmt: skip
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
            cur.execute("INSERT INTO t VALUES (1)")
    finally:
        conn.close()


def test_sigkill_restart_adopts_finishes_and_cleans_up(moonbase: Moonbase) -> None:
    # two ready databases with data
    creds = {}
    for name, kind in (("pg", "postgresql"), ("my", "mysql")):
        moonbase.create_database(name, kind, replicas=2)
    for name, kind in (("pg", "postgresql"), ("my", "mysql")):
        moonbase.wait_ready(name)
        creds[name] = _credential(moonbase, name, kind)
        _write_row(moonbase, name, kind, creds[name])
    folders = {n: moonbase.home / "instances" / moonbase.branch(n)["id"] for n in creds}
    pids_before = {n: process.pids_under(f) for n, f in folders.items()}
    assert all(len(p) >= 3 for p in pids_before.values()), pids_before

    # a database to delete (deletion cut short) and one whose creation is cut short
    moonbase.create_database("doomed", "postgresql")
    moonbase.wait_ready("doomed")
    doomed = moonbase.home / "instances" / moonbase.branch("doomed")["id"]
    assert moonbase.http.delete("/organizations/acme/databases/doomed").status_code == 204
    moonbase.create_database("late", "mysql", replicas=2)
    moonbase.kill()

    # the servers outlived Moonbase; stop one replica by hand as if it had crashed meanwhile
    for name, folder in folders.items():
        assert process.pids_under(folder), f"{name}'s servers died with Moonbase"
    process.kill_all_under(folders["pg"] / "2")

    moonbase.start()
    for name in ("pg", "my", "late"):
        moonbase.wait_ready(name)
    wait_for(lambda: not doomed.exists(), 60, "the deleted database's files to be removed")
    assert process.pids_under(doomed) == []
    assert moonbase.http.get("/organizations/acme/databases/doomed").status_code == 404

    # adopted, not restarted: the MariaDB primary kept its pid; data and logins survived
    my_primary = folders["my"] / "0"
    assert set(process.pids_under(my_primary)) <= set(pids_before["my"])
    for name, kind in (("pg", "postgresql"), ("my", "mysql")):
        assert _count_rows(moonbase, name, kind, creds[name]) == 1
    # the replica stopped by hand runs again
    wait_for(lambda: process.pids_under(folders["pg"] / "2"), 30, "the replica to run again")
