"""(a) create: from ``POST /v1/organizations/acme/databases`` to ``ready: true`` and to the first
successful ``SELECT 1`` with a freshly created credential, against a real ``moonbase up``.

Baseline, in the same run: a bare start of a prepared data directory through the engine itself
(clone the template, untimed; then time ``configure`` + ``start`` + ``wait_ready``).

Per run (one database):

1. wait until the spare pools are full and the machine has settled (``--settle``);
2. ``POST`` the database; poll ``GET`` every ``--poll`` seconds until ``ready: true``;
3. create a credential (a role with ``inherited_roles: ["postgres"]`` / a password with role
   ``admin``) and connect with psycopg / PyMySQL until ``SELECT 1`` succeeds;
4. read the branch's progress lines (``status.verdict``, logged by ``moonbase up`` with
   millisecond timestamps) to see where the time went;
5. delete the database and wait until its folder is gone.

"Warm pool" runs use the default pool (3 spare copies per engine). "Empty pool" runs use a
second ``moonbase up`` with ``MOONBASE_SPARE_POOL=0``: every server is then a fresh copy of the
template made on the critical path (what happens whenever a burst of creations has drained the
pool faster than it refills).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pymysql

from bench.common import (
    ORG,
    Moonbase,
    fmt_range,
    janitor,
    make_dir,
    meminfo,
    quiet_gate,
    remove,
    summary,
    table,
    wait_for,
    write_json,
)
from moonbase import catalog
from moonbase.engines import process, registry
from moonbase.engines.base import Engine, Limits, ServerSpec

KINDS = ("postgresql", "mysql")
LOG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO branch (\w+): (.*)$"
)


# --- baseline: the engine alone -----------------------------------------------------------------


def _free_server_port() -> int:
    import socket

    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if 1024 < port < 65000:
            return port
    raise RuntimeError("no free port")


def baseline_run(engine: Engine, template: Path, workdir: Path, n: int,
                 concurrent_clone: bool = False) -> dict[str, float]:
    """Clone (untimed for the baseline, reported for reference), then time configure + start +
    wait_ready; bootstrap_primary and stop are timed for reference too.

    ``concurrent_clone``: while the server starts, another copy of the template is made in a
    thread (``cp -a`` + ``sync``), which is what the provisioner's pool refill does right after
    a creation took a spare. Shows how much that background copy slows a start down."""
    size = catalog.size("PS_10", engine.kind)
    assert size is not None
    root = workdir / f"{engine.kind[:2]}{n}"
    spec = ServerSpec(
        root=root,
        port=_free_server_port(),
        limits=Limits(size.memory_mb, size.max_connections),
        database_name="bench" if engine.kind == "mysql" else "postgres",
    )
    out: dict[str, float] = {}
    other = workdir / f"{engine.kind[:2]}{n}-copy"
    copier = threading.Thread(target=engine.clone_template, args=(template, other))
    try:
        out["dirty_kb_before"] = meminfo()["Dirty"]
        t = time.perf_counter()
        engine.clone_template(template, root)
        out["clone"] = time.perf_counter() - t
        t = time.perf_counter()
        if concurrent_clone:
            copier.start()
        engine.configure(spec)
        t1 = time.perf_counter()
        engine.start(spec)
        t2 = time.perf_counter()
        engine.wait_ready(spec, 60)
        t3 = time.perf_counter()
        out["configure"] = t1 - t
        out["spawn"] = t2 - t1
        out["wait_ready"] = t3 - t2
        out["start_ready"] = t3 - t  # the baseline: configure + start + wait_ready
        if concurrent_clone:
            copier.join()
            out["concurrent_clone_done"] = time.perf_counter() - t
        t = time.perf_counter()
        engine.bootstrap_primary(spec)
        out["bootstrap"] = time.perf_counter() - t
        t = time.perf_counter()
        engine.stop(spec)
        out["stop"] = time.perf_counter() - t
    finally:
        if copier.ident is not None:
            copier.join()
        engine.stop(spec)
        process.kill_all_under(root)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(other, ignore_errors=True)
    return out


# --- one database through the API -----------------------------------------------------------------


def _parse_log(mb: Moonbase, branch_id: str) -> list[tuple[float, str]]:
    """(wall-clock time, progress line) of one branch, from the ``moonbase up`` log."""
    lines = []
    for raw in mb.log.read_text(errors="replace").splitlines():
        m = LOG_LINE.match(raw)
        if m and m.group(2) == branch_id:
            when = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            lines.append((when, m.group(3)))
    return lines


def _iso_ts(text: str | None) -> float | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def first_query(kind: str, cred: dict[str, Any], timeout: float = 30) -> tuple[float, int]:
    """Connect with the credential until ``SELECT 1`` answers; (seconds, attempts)."""
    host, _, port = cred["access_host_url"].rpartition(":")
    t0 = time.perf_counter()
    attempts = 0
    last: Exception | None = None
    while time.perf_counter() - t0 < timeout:
        attempts += 1
        try:
            if kind == "postgresql":
                with psycopg.connect(host=host, port=int(port), user=cred["username"],
                                     password=cred["password"], dbname="postgres",
                                     connect_timeout=5) as conn:
                    row = conn.execute("SELECT 1").fetchone()
            else:
                conn = pymysql.connect(host=host, port=int(port), user=cred["username"],
                                       password=cred["plain_text"],
                                       database=cred["database_name"], ssl_disabled=True,
                                       connect_timeout=5)
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT 1")
                        row = cur.fetchone()
                finally:
                    conn.close()
            if row is not None and row[0] == 1:
                return time.perf_counter() - t0, attempts
        except (psycopg.Error, pymysql.err.MySQLError) as exc:
            last = exc
        time.sleep(0.01)
    raise TimeoutError(f"no SELECT 1 after {timeout} s: {last}")


def create_credential(mb: Moonbase, kind: str, name: str) -> dict[str, Any]:
    base = f"/organizations/{ORG}/databases/{name}/branches/main"
    if kind == "postgresql":
        r = mb.http.post(f"{base}/roles", json={"name": "bench", "inherited_roles": ["postgres"]})
    else:
        r = mb.http.post(f"{base}/passwords", json={"name": "bench", "role": "admin"})
    if r.status_code not in (200, 201):
        raise RuntimeError(f"credential for {name}: {r.status_code} {r.text}")
    return r.json()  # type: ignore[no-any-return]


def api_run(mb: Moonbase, kind: str, replicas: int, name: str, poll: float) -> dict[str, Any]:
    body = {"name": name, "kind": kind, "cluster_size": "PS_10", "replicas": replicas}
    dirty = meminfo()["Dirty"]
    wall0 = time.time()
    t0 = time.perf_counter()
    r = mb.http.post(f"/organizations/{ORG}/databases", json=body)
    t_post = time.perf_counter() - t0
    if r.status_code != 201:
        raise RuntimeError(f"create {name}: {r.status_code} {r.text}")
    created = r.json()
    polls = 0
    while True:
        polls += 1
        db = mb.database(name).json()
        if db.get("ready"):
            t_ready = time.perf_counter() - t0
            break
        if time.perf_counter() - t0 > 180:
            raise TimeoutError(f"{name} not ready after 180 s: {mb.branch(name)}")
        time.sleep(poll)
    t = time.perf_counter()
    cred = create_credential(mb, kind, name)
    t_cred = time.perf_counter() - t
    t_connect, attempts = first_query(kind, cred)
    t_query = time.perf_counter() - t0

    branch = mb.branch(name)
    ready_at = _iso_ts(branch["status"].get("ready_at"))
    phases = [(round(when - wall0, 4), line) for when, line in _parse_log(mb, branch["id"])]
    folder = mb.home / "instances" / branch["id"]

    t = time.perf_counter()
    d = mb.http.delete(f"/organizations/{ORG}/databases/{name}")
    if d.status_code != 204:
        raise RuntimeError(f"delete {name}: {d.status_code} {d.text}")
    wait_for(lambda: not folder.exists(), 120, f"{folder} to be removed", every=0.02)
    t_delete = time.perf_counter() - t
    return {
        "name": name,
        "dirty_kb_before": dirty,
        "major_version": created.get("major_version"),
        "post": t_post,
        "ready": t_ready,
        "ready_at_server": None if ready_at is None else ready_at - wall0,
        "credential": t_cred,
        "connect_select": t_connect,
        "connect_attempts": attempts,
        "first_query": t_query,
        "polls": polls,
        "phases": phases,
        "delete": t_delete,
    }


# --- the benchmark ------------------------------------------------------------------------------


def _engine_for(engines: list[Engine], kind: str, version: str | None) -> Engine:
    for engine in engines:
        if engine.kind == kind and (version is None or engine.version == version):
            return engine
    return next(e for e in engines if e.kind == kind)


def _phase_summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Median offset (from POST) of each progress line, over the runs that logged it."""
    seen: dict[str, list[float]] = {}
    for run in runs:
        for offset, line in run["phases"]:
            seen.setdefault(line, []).append(offset)
    return {line: summary(v) for line, v in seen.items()}


def _scenario(mb: Moonbase, kind: str, replicas: int, pool: str, runs: int, poll: float,
              settle: float, pool_size: int, tag: str,
              first: int = 0) -> list[dict[str, Any]]:
    out = []
    for i in range(first, first + runs):
        if pool_size:
            mb.wait_pools_full(KINDS, pool_size)
        busy = quiet_gate(settle)
        name = f"{tag}-{kind[:2]}-r{replicas}-{i}"
        run = api_run(mb, kind, replicas, name, poll)
        run["machine_busy_before"] = busy
        print(f"  {pool:5} {kind:10} replicas={replicas} #{i}: "
              f"POST->ready {run['ready'] * 1000:6.0f} ms, "
              f"->first query {run['first_query'] * 1000:6.0f} ms "
              f"(credential {run['credential'] * 1000:.0f} ms, "
              f"connect {run['connect_select'] * 1000:.0f} ms)", flush=True)
        out.append(run)
    return out


def run(runs: int = 7, poll: float = 0.01, settle: float = 1.0, empty: bool = True,
        replica_counts: tuple[int, ...] = (0, 2), empty_runs: int | None = None) -> dict[str, Any]:
    home = make_dir("mb-bench-create-")
    templates = make_dir("mb-bench-tpl-")
    work = make_dir("mb-bench-base-")
    home2: Path | None = None
    pool_size = 3
    result: dict[str, Any] = {
        "config": {"runs": runs, "poll_s": poll, "settle_s": settle, "spare_pool": pool_size,
                   "cluster_size": "PS_10", "replicas": list(replica_counts)},
        "baseline": {},
        "scenarios": [],
    }
    mb = Moonbase(home, templates)
    mb2: Moonbase | None = None
    try:
        print("create: starting moonbase up and building templates ...", flush=True)
        mb.start()
        mb.wait_pools_full(KINDS, pool_size)
        time.sleep(settle)
        run_as = process.ensure_run_as_user("moonbase")
        engines = registry.discover(home / "engines", run_as)
        # which engine versions the API picks by default
        versions: dict[str, str | None] = {}
        base: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS}
        base_cc: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS}
        warm: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for i in range(runs):
            for kind in KINDS:
                engine = _engine_for(engines, kind, versions.get(kind))
                template = templates / f"{engine.kind}-{engine.version}" / "template"
                mb.wait_pools_full(KINDS, pool_size)
                busy = quiet_gate(settle)
                b = baseline_run(engine, template, work, i)
                b["machine_busy_before"] = busy
                base[kind].append(b)
                busy = quiet_gate(settle)
                bc = baseline_run(engine, template, work, i, concurrent_clone=True)
                bc["machine_busy_before"] = busy
                base_cc[kind].append(bc)
                print(f"  base  {kind:10} {engine.version:>5} #{i}: configure+start+ready "
                      f"{b['start_ready']*1000:6.0f} ms (clone {b['clone']*1000:.0f} ms); "
                      f"during a template copy {bc['start_ready']*1000:6.0f} ms", flush=True)
                for replicas in replica_counts:
                    r = _scenario(mb, kind, replicas, "warm", 1, poll, settle, pool_size,
                                  "w", first=i)[0]
                    warm.setdefault((kind, replicas), []).append(r)
                    if kind not in versions:
                        versions[kind] = r["major_version"]
        for kind in KINDS:
            engine = _engine_for(engines, kind, versions.get(kind))
            result["baseline"][kind] = {
                "engine": repr(engine),
                "runs": base[kind],
                **{k: summary(r[k] for r in base[kind])
                   for k in ("clone", "configure", "spawn", "wait_ready", "start_ready",
                             "bootstrap", "stop")},
                "during_copy": {
                    "runs": base_cc[kind],
                    **{k: summary(r[k] for r in base_cc[kind])
                       for k in ("start_ready", "concurrent_clone_done")},
                },
            }
        for (kind, replicas), rs in warm.items():
            result["scenarios"].append(_summarise(kind, replicas, "warm", rs))
        mb.close()

        if empty:
            # a second installation whose pool is always empty: every copy is on the critical path
            for pool in templates.iterdir():
                shutil.rmtree(pool / "spares", ignore_errors=True)
            home2 = make_dir("mb-bench-create0-")
            mb2 = Moonbase(home2, templates, spare_pool=0)
            print("create: moonbase up with MOONBASE_SPARE_POOL=0 ...", flush=True)
            mb2.start()
            wait_for(lambda: all((p / "template").exists() for p in templates.iterdir()), 120,
                     "templates")
            time.sleep(settle)
            for kind in KINDS:
                for replicas in replica_counts:
                    rs = _scenario(mb2, kind, replicas, "empty", empty_runs or runs, poll, settle,
                                   0, "e")
                    result["scenarios"].append(_summarise(kind, replicas, "empty", rs))
    finally:
        for m in (mb, mb2):
            if m is not None:
                leftovers = m.close()
                if leftovers:
                    print(f"janitor stopped leftover processes: {leftovers}")
        janitor(work, templates)
        remove(home, work, templates, *(p for p in (home2,) if p is not None))
    _ratios(result)
    return result


def _summarise(kind: str, replicas: int, pool: str, rs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": kind,
        "replicas": replicas,
        "pool": pool,
        "runs": rs,
        **{k: summary(r[k] for r in rs)
           for k in ("post", "ready", "ready_at_server", "credential", "connect_select",
                     "first_query", "delete")},
        "phases": _phase_summary(rs),
    }


def _ratios(result: dict[str, Any]) -> None:
    for sc in result["scenarios"]:
        base = result["baseline"].get(sc["kind"], {}).get("start_ready", {})
        if base.get("median") and sc["ready"].get("median"):
            sc["ratio_ready_vs_bare_start"] = sc["ready"]["median"] / base["median"]
            sc["ratio_first_query_vs_bare_start"] = sc["first_query"]["median"] / base["median"]


def report(result: dict[str, Any]) -> str:
    out = []
    rows = []
    for kind, b in result["baseline"].items():
        rows.append([kind, b["engine"].split("(")[1].split(",")[0],
                     fmt_range(b["start_ready"]), fmt_range(b["configure"], digits=1),
                     fmt_range(b["spawn"], digits=1), fmt_range(b["wait_ready"]),
                     fmt_range(b["clone"]), fmt_range(b["bootstrap"]), fmt_range(b["stop"]),
                     fmt_range(b["during_copy"]["start_ready"])])
    out.append(table(
        ["engine", "version", "bare start (configure+start+ready)", "configure", "spawn",
         "wait_ready", "clone (ref)", "bootstrap (ref)", "stop (ref)",
         "bare start during a template copy"],
        rows, "Baseline: bare start of a prepared data directory, ms, median (min–max)"))
    rows = []
    for sc in result["scenarios"]:
        rows.append([sc["kind"], sc["replicas"], sc["pool"], sc["ready"]["n"],
                     fmt_range(sc["post"]), fmt_range(sc["ready"]),
                     fmt_range(sc["credential"]), fmt_range(sc["connect_select"]),
                     fmt_range(sc["first_query"]),
                     f"{sc.get('ratio_ready_vs_bare_start', float('nan')):.2f}x",
                     f"{sc.get('ratio_first_query_vs_bare_start', float('nan')):.2f}x"])
    out.append(table(
        ["engine", "replicas", "pool", "n", "POST", "POST->ready", "credential POST",
         "connect+SELECT 1", "POST->first query", "ready/bare", "first query/bare"],
        rows, "Create through the API, ms, median (min–max)"))
    for sc in result["scenarios"]:
        rows = [[line, fmt_range(s)] for line, s in sc["phases"].items()]
        rows.append(["(ready_at recorded by the reconciler)", fmt_range(sc["ready_at_server"])])
        rows.append(["(client sees ready: true)", fmt_range(sc["ready"])])
        out.append(table(["progress line (status.verdict)", "ms after POST sent"], rows,
                         f"Where the time goes: {sc['kind']}, replicas={sc['replicas']}, "
                         f"{sc['pool']} pool"))
    return "\n".join(out)


def main(runs: int = 7, **kwargs: Any) -> dict[str, Any]:
    result = run(runs=runs, **kwargs)
    text = report(result)
    print(text)
    path = write_json("create", result)
    print(f"\nJSON: {path}")
    return result
