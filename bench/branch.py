"""Branch creation time for parents of 10, 100 and 1,000 tables, beside a plain schema dump and
restore of the same schema measured in the same run.

For each engine and table count: one database (PS_10, no replicas) whose primary gets N tables
(primary key, a unique NOT NULL column, an index, a foreign key to the previous table, a
check), then

* **branch**: ``POST …/branches`` → ``ready: true`` (GET every 10 ms), the development branch
  deleted again afterwards (not timed);
* **dump | restore** (baseline): the engine's own tools on the same server, through its private
  socket as the internal admin — PostgreSQL ``pg_dump --schema-only postgres | psql scratch``,
  MariaDB ``mariadb-dump --no-data --routines --triggers <db> | mariadb scratch`` — into a
  fresh, empty scratch database (created and dropped around each run, not timed).

Ratio = median branch ÷ median dump | restore. The branch also pays for a server of its own
(a spare data directory, start, readiness) and Moonbase's bookkeeping; the dump | restore
baseline reuses a running server.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import (
    ORG,
    Moonbase,
    make_dir,
    mark_start,
    quiet_gate,
    remove,
    summary,
    table,
    wait_for,
    write_json,
)
from moonbase.engines.registry import discover

COUNTS = (10, 100, 1000)


def schema_sql(kind: str, count: int) -> list[str]:
    """N tables, each referring to the one before it."""
    out = []
    for i in range(count):
        fk = f", parent_id int REFERENCES t{i - 1}(id)" if i else ""
        if kind == "postgresql":
            out.append(
                f"CREATE TABLE t{i} (id int PRIMARY KEY, code text NOT NULL UNIQUE, "
                f"qty int CHECK (qty >= 0){fk}); CREATE INDEX t{i}_qty ON t{i} (qty);"
            )
        else:
            out.append(
                f"CREATE TABLE t{i} (id int PRIMARY KEY, code varchar(40) NOT NULL UNIQUE, "
                f"qty int CHECK (qty >= 0){fk}, KEY t{i}_qty (qty))"
            )
    return out


class Server:
    """The parent's primary, reached through its private socket as the internal admin."""

    def __init__(self, mb: Moonbase, db: str, kind: str) -> None:
        self.kind = kind
        self.db = db
        branch = mb.branch(db)
        self.root = mb.home / "instances" / branch["id"] / "0"
        self.port = int(branch["servers"][0]["address"].rpartition(":")[2])
        version = mb.database(db).json()["major_version"]
        engines = {(e.kind, e.version): e for e in discover(mb.home / "engines", None)}
        self.engine = engines[(kind, version)]

    def tool(self, name: str) -> str:
        if self.kind == "postgresql":
            return str(self.engine.bin_dir / name)  # type: ignore[attr-defined]
        return name

    def client_args(self, database: str) -> list[str]:
        if self.kind == "postgresql":
            return ["-h", str(self.root / "run"), "-p", str(self.port), "-U", "moonbase_admin",
                    "-d", database]  # fmt: skip
        return ["--socket", str(self.root / "run" / "mysqld.sock"), "-u", "root", database]

    def sql(self, statements: list[str], database: str | None = None) -> None:
        target = database or ("postgres" if self.kind == "postgresql" else self.db)
        program = self.tool("psql") if self.kind == "postgresql" else "mariadb"
        extra = ["-q", "-v", "ON_ERROR_STOP=1"] if self.kind == "postgresql" else []
        text = "\n".join(s if s.rstrip().endswith(";") else s + ";" for s in statements)
        subprocess.run([program, *extra, *self.client_args(target)], input=text.encode(),
                       check=True, capture_output=True)  # fmt: skip

    def dump_restore(self) -> float:
        """One timed dump | restore into a fresh scratch database."""
        admin_db = "postgres" if self.kind == "postgresql" else self.db
        self.sql(["DROP DATABASE IF EXISTS scratch", "CREATE DATABASE scratch"], admin_db)
        if self.kind == "postgresql":
            dump = [self.tool("pg_dump"), "--schema-only", *self.client_args("postgres")]
            load = [self.tool("psql"), "-q", "-v", "ON_ERROR_STOP=1", *self.client_args("scratch")]
        else:
            dump = ["mariadb-dump", "--no-data", "--routines", "--triggers",
                    *self.client_args(self.db)]  # fmt: skip
            load = ["mariadb", *self.client_args("scratch")]
        started = time.perf_counter()
        producer = subprocess.Popen(dump, stdout=subprocess.PIPE)
        consumer = subprocess.run(load, stdin=producer.stdout, capture_output=True)
        assert producer.stdout is not None
        producer.stdout.close()
        took = time.perf_counter() - started
        if producer.wait() != 0 or consumer.returncode != 0:
            raise RuntimeError(f"dump | restore failed: {consumer.stderr.decode()[-500:]}")
        self.sql(["DROP DATABASE IF EXISTS scratch"], admin_db)
        return took


def branch_once(mb: Moonbase, db: str, name: str) -> float:
    started = time.perf_counter()
    r = mb.http.post(f"/organizations/{ORG}/databases/{db}/branches", json={"name": name})
    if r.status_code != 201:
        raise RuntimeError(f"create branch: {r.status_code} {r.text}")
    path = f"/organizations/{ORG}/databases/{db}/branches/{name}"
    wait_for(lambda: mb.http.get(path).json().get("ready"), 600, f"branch {name}", every=0.01)
    took = time.perf_counter() - started
    branch = mb.http.get(path).json()
    folder = mb.home / "instances" / branch["id"]
    assert mb.http.delete(path).status_code == 204
    wait_for(lambda: not folder.exists(), 120, f"branch {name} removed", every=0.05)
    return took


def run(runs: int = 5, counts: tuple[int, ...] = COUNTS) -> dict[str, Any]:
    mark_start()
    home = make_dir("mb-bench-branch-")
    templates = make_dir("mb-bench-branch-tpl-")
    mb = Moonbase(home, templates, log_level="warning")
    scenarios: list[dict[str, Any]] = []
    try:
        mb.start()
        mb.wait_pools_full(["postgresql", "mysql"], 3)
        for kind in ("postgresql", "mysql"):
            for count in counts:
                db = f"p{kind[:2]}{count}"
                body = {"name": db, "kind": kind, "cluster_size": "PS_10"}
                r = mb.http.post(f"/organizations/{ORG}/databases", json=body)
                assert r.status_code == 201, r.text

                def ready(db: str = db) -> Any:
                    return mb.database(db).json().get("ready")

                wait_for(ready, 300, db)
                server = Server(mb, db, kind)
                statements = schema_sql(kind, count)
                for first in range(0, count, 100):
                    server.sql(statements[first : first + 100])
                branch_times, dump_times = [], []
                for i in range(runs):
                    mb.wait_pools_full([kind], 3)
                    quiet_gate(max_wait=10)
                    dump_times.append(server.dump_restore())
                    quiet_gate(max_wait=10)
                    branch_times.append(branch_once(mb, db, f"b{i}"))
                    print(f"  {kind:10} {count:5} tables #{i}: branch {branch_times[-1]:.3f} s, "
                          f"dump|restore {dump_times[-1]:.3f} s", flush=True)  # fmt: skip
                scenarios.append({"kind": kind, "tables": count, "branch_s": summary(branch_times),
                                  "dump_restore_s": summary(dump_times)})  # fmt: skip
                mb.delete_and_wait(db)
    finally:
        mb.close()
        remove(home, templates)
    return {"benchmark": "branch", "runs": runs, "scenarios": scenarios}


def report(result: dict[str, Any]) -> str:
    rows = []
    for s in result["scenarios"]:
        b, d = s["branch_s"], s["dump_restore_s"]
        rows.append([s["kind"], s["tables"], f"{b['median']:.3f} [{b['min']:.3f}–{b['max']:.3f}]",
                     f"{d['median']:.3f} [{d['min']:.3f}–{d['max']:.3f}]",
                     f"{b['median'] / d['median']:.2f}"])  # fmt: skip
    return table(["kind", "tables", "branch → ready, s", "dump + restore, s", "ratio"], rows,
                 f"Branch creation, median [min–max] of {result['runs']}")  # fmt: skip


def main(runs: int = 5, **_: Any) -> dict[str, Any]:
    result = run(runs)
    print(report(result))
    path: Path = write_json("branch", result)
    print(f"written to {path}")
    return result


if __name__ == "__main__":  # pragma: no cover
    main()
