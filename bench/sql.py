"""SQL over HTTP (what the serverless driver speaks) against the MySQL protocol on the same
branch, measured in the same run.

One MySQL database (PS_10, no replicas) with a 1,000-row table and one ``admin`` password;
then, per round, sequential statements timed one by one:

* **http**: ``POST /psdb.v1alpha1.Database/Execute`` from Python (httpx, one kept-alive
  connection, the session handed back each time as the driver does);
* **driver**: PlanetScale's serverless driver itself (``@planetscale/database``, the version
  the tests pin, Node.js), ``conn.execute`` in a loop, timed inside Node;
* **mysql** (baseline): the same statements over the MySQL protocol (PyMySQL, one connection)
  straight to the branch's server.

Statements: ``SELECT 1`` and a point select by primary key (``SELECT * FROM items WHERE id =
…``, varying ids). Ratio = median http (or driver) ÷ median mysql. The HTTP path adds the
request, authentication (a store read and a hash), the session pool and Vitess's encoding.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pymysql

from bench.common import (
    ORG,
    ROOT,
    Moonbase,
    make_dir,
    mark_start,
    percentile,
    quiet_gate,
    remove,
    table,
    wait_for,
    write_json,
)

DRIVER = ROOT / "tests" / "e2e" / "driver"
ROWS = 1000
STATEMENTS = {
    "select 1": lambda _i: "SELECT 1",
    "point select": lambda i: f"SELECT * FROM items WHERE id = {i % ROWS + 1}",
}

_NODE_LOOP = """
import { connect } from '@planetscale/database'
const [url, count, ...queries] = process.argv.slice(2)
const conn = connect({ url })
await conn.execute('SELECT 1')
const out = {}
for (const q of queries) {
  const times = []
  for (let i = 0; i < Number(count); i++) {
    const sql = q.replace('{i}', String(i % 1000 + 1))
    const t0 = performance.now()
    await conn.execute(sql)
    times.push((performance.now() - t0) / 1000)
  }
  out[q] = times
}
console.log(JSON.stringify(out))
"""


def _password(mb: Moonbase, db: str) -> dict[str, Any]:
    r = mb.http.post(f"/organizations/{ORG}/databases/{db}/branches/main/passwords",
                     json={"role": "admin"})  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _over_http(mb: Moonbase, cred: dict[str, Any], count: int) -> dict[str, list[float]]:
    token = base64.b64encode(f"{cred['username']}:{cred['plain_text']}".encode()).decode()
    times: dict[str, list[float]] = {}
    with httpx.Client(base_url=mb.url, headers={"Authorization": f"Basic {token}"}) as http:
        session = None
        for name, make in STATEMENTS.items():
            found = times.setdefault(name, [])
            for i in range(count):
                t0 = time.perf_counter()
                body = http.post("/psdb.v1alpha1.Database/Execute",
                                 json={"query": make(i), "session": session}).json()  # fmt: skip
                found.append(time.perf_counter() - t0)
                assert "error" not in body, body
                session = body["session"]
    return times


def _mysql(cred: dict[str, Any]) -> Any:
    host, _, port = cred["access_host_url"].rpartition(":")
    return pymysql.connect(host=host, port=int(port), user=cred["username"],
                           password=cred["plain_text"], database=cred["database_name"],
                           autocommit=True, ssl_disabled=True)  # fmt: skip


def _over_mysql(cred: dict[str, Any], count: int) -> dict[str, list[float]]:
    conn = _mysql(cred)
    times: dict[str, list[float]] = {}
    try:
        with conn.cursor() as cur:
            for name, make in STATEMENTS.items():
                found = times.setdefault(name, [])
                for i in range(count):
                    t0 = time.perf_counter()
                    cur.execute(make(i))
                    cur.fetchall()
                    found.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return times


def _driver(mb: Moonbase, cred: dict[str, Any], count: int, script: Path) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not (DRIVER / "node_modules" / "@planetscale" / "database").is_dir():
        return {}
    host = mb.url.removeprefix("http://")
    url = f"http://{cred['username']}:{cred['plain_text']}@{host}"
    queries = ["SELECT 1", "SELECT * FROM items WHERE id = {i}"]
    run = subprocess.run([node, str(script), url, str(count), *queries], cwd=DRIVER,
                         capture_output=True, text=True, timeout=600, check=True)  # fmt: skip
    found = json.loads(run.stdout)
    return dict(zip(STATEMENTS, (found[q] for q in queries), strict=True))


def run(rounds: int = 5, count: int = 1000) -> dict[str, Any]:
    mark_start()
    home = make_dir("mb-bench-sql-")
    templates = make_dir("mb-bench-sql-tpl-")
    script = DRIVER / ".bench-loop.mjs"  # beside node_modules, so the import resolves
    mb = Moonbase(home, templates, log_level="warning")
    #: way -> statement -> one list of times per round
    measured: dict[str, dict[str, list[list[float]]]] = {"http": {}, "driver": {}, "mysql": {}}
    try:
        script.write_text(_NODE_LOOP)
        mb.start()
        body = {"name": "sqlb", "kind": "mysql", "cluster_size": "PS_10"}
        r = mb.http.post(f"/organizations/{ORG}/databases", json=body)
        assert r.status_code == 201, r.text
        wait_for(lambda: mb.database("sqlb").json().get("ready"), 300, "the database")
        cred = _password(mb, "sqlb")
        with _mysql(cred) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE items (id int PRIMARY KEY, name varchar(40), "
                        "price decimal(10,2), made datetime, note text)")  # fmt: skip
            rows = [(i, f"item {i}", random.randint(1, 10**5) / 100, "2026-11-28 10:00:00",
                     None if i % 3 else "x" * 40) for i in range(1, ROWS + 1)]  # fmt: skip
            cur.executemany("INSERT INTO items VALUES (%s, %s, %s, %s, %s)", rows)
        for r_ in range(rounds):
            for way in ("mysql", "http", "driver"):
                quiet_gate(max_wait=30)
                if way == "mysql":
                    got = _over_mysql(cred, count)
                elif way == "http":
                    got = _over_http(mb, cred, count)
                else:
                    got = _driver(mb, cred, count, script)
                for name, times in got.items():
                    measured[way].setdefault(name, []).append(times)
            print(f"  round {r_ + 1}/{rounds} done", flush=True)
    finally:
        script.unlink(missing_ok=True)
        mb.close()
        remove(home, templates)
    result: dict[str, Any] = {"benchmark": "sql", "rounds": rounds, "statements_per_round": count,
                              "scenarios": []}  # fmt: skip
    for name in STATEMENTS:
        entry: dict[str, Any] = {"statement": name}
        for way in ("mysql", "http", "driver"):
            if name in measured[way]:
                entry[way] = _stats(measured[way][name])
        result["scenarios"].append(entry)
    return result


def _stats(rounds: list[list[float]]) -> dict[str, Any]:
    """Median and p90 of every statement, and the range of the rounds' medians, in ms."""
    every = [t * 1000 for times in rounds for t in times]
    medians = [statistics.median(times) * 1000 for times in rounds]
    return {"median_ms": statistics.median(every), "p90_ms": percentile(every, 90),
            "round_medians_ms": medians, "n": len(every)}  # fmt: skip


def _cell(s: dict[str, Any] | None) -> str:
    if not s:
        return "–"
    lo, hi = min(s["round_medians_ms"]), max(s["round_medians_ms"])
    return f"{s['median_ms']:.2f} ({lo:.2f}–{hi:.2f}; p90 {s['p90_ms']:.2f})"


def report(result: dict[str, Any]) -> str:
    rows = []
    for s in result["scenarios"]:
        base = s["mysql"]["median_ms"]
        http, driver = s.get("http"), s.get("driver")
        rows.append([s["statement"], _cell(s["mysql"]), _cell(http), _cell(driver),
                     f"{http['median_ms'] / base:.1f}×" if http else "–",
                     f"{driver['median_ms'] / base:.1f}×" if driver else "–"])  # fmt: skip
    return table(["statement", "mysql protocol", "http (python)", "driver (node)",
                  "http / mysql", "driver / mysql"], rows,
                 f"One statement, ms: median of all (range of the {result['rounds']} rounds' "
                 f"medians; p90), {result['statements_per_round']} per round and way")  # fmt: skip


def main(rounds: int = 5, count: int = 1000, **_: Any) -> dict[str, Any]:
    result = run(rounds, count)
    print(report(result))
    path: Path = write_json("sql", result)
    print(f"written to {path}")
    return result


if __name__ == "__main__":  # pragma: no cover
    main()
