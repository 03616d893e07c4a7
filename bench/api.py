"""(b) api: latency and throughput of read endpoints with 100+ databases in the store.

The server is Moonbase's own app (``create_app``) with the **FakeProvisioner**: databases are
"ready" at once and no database server is started, so the store can hold 120 databases on a
2-core machine. It is served by uvicorn (asyncio + h11, the same settings as ``moonbase up``)
in a thread of a separate process (``bench/api_server.py``), so the clients do not compete for
the server's interpreter lock. The SQLite store, the reconciler (with its 5-second health
checks of every branch) and the HTTP stack are the real ones.

Measured per endpoint, in rounds (endpoints interleaved within a round):

* **1 client**: ``--requests`` sequential requests over one keep-alive connection;
* **4 clients**: 4 processes, one keep-alive connection each, ``--requests`` in total, started
  together (barrier).

Latency = client-side time per request (p50/p90/p99 over the requests of one measurement);
throughput = requests / wall time of the measurement; server CPU = utime+stime of the server
process during the measurement, per request. The baselines are ``GET /healthz`` (no auth, no
store) and ``GET /v1/regions`` (public, no store), served by the same process in the same round.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    ADMIN,
    ORG,
    ROOT,
    fmt_range,
    free_port,
    make_dir,
    percentile,
    quiet_gate,
    remove,
    summary,
    table,
    wait_for,
    write_json,
)

ENDPOINTS = {
    "healthz": "/healthz",
    "regions": "/v1/regions",
    "get_database": f"/v1/organizations/{ORG}/databases/{{name}}",
    "list_25": f"/v1/organizations/{ORG}/databases?per_page=25",
    "list_100": f"/v1/organizations/{ORG}/databases?per_page=100",
}
BASELINES = ("healthz", "regions")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _paths(endpoint: str, names: list[str], count: int, start: int = 0) -> list[str]:
    template = ENDPOINTS[endpoint]
    if "{name}" not in template:
        return [template] * count
    # one database per request, cycling through the store (every row equally likely)
    return [template.format(name=names[(start + i) % len(names)]) for i in range(count)]


def _get_all(client: httpx.Client, paths: list[str],
             max_seconds: float | None = None) -> tuple[list[float], float, float]:
    lat = []
    begin = time.perf_counter()
    deadline = begin + max_seconds if max_seconds else float("inf")
    for path in paths:
        if time.perf_counter() > deadline:
            break
        t = time.perf_counter()
        r = client.get(path)
        lat.append(time.perf_counter() - t)
        if r.status_code != 200:
            raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:200]}")
    return lat, begin, time.perf_counter()


# --- 4 client processes ----------------------------------------------------------------------

_barrier: Any = None


def _init_worker(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def _worker(base_url: str, warmup: list[str], paths: list[str],
            max_seconds: float | None) -> tuple[list[float], float, float]:
    with httpx.Client(base_url=base_url, headers=ADMIN, timeout=60) as client:
        _get_all(client, warmup)  # open the connection, warm the path
        _barrier.wait(timeout=120)
        return _get_all(client, paths, max_seconds)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _measure(endpoint: str, url: str, names: list[str], requests: int,
             client: httpx.Client, pool: cf.ProcessPoolExecutor, clients: int,
             server_pid: int, offset: int, max_seconds: float | None) -> dict[str, Any]:
    cpu0 = _cpu_seconds(server_pid)
    if clients == 1:
        _get_all(client, _paths(endpoint, names, 20, offset))
        cpu0 = _cpu_seconds(server_pid)
        lat, begin, end = _get_all(client, _paths(endpoint, names, requests, offset),
                                   max_seconds)
    else:
        share = requests // clients
        futures = [
            pool.submit(_worker, url, _paths(endpoint, names, 10, offset + i * share),
                        _paths(endpoint, names, share, offset + i * share), max_seconds)
            for i in range(clients)
        ]
        results = [f.result(timeout=1800) for f in futures]
        lat = [x for r in results for x in r[0]]
        begin = min(r[1] for r in results)
        end = max(r[2] for r in results)
    cpu = _cpu_seconds(server_pid) - cpu0
    wall = end - begin
    return {
        "endpoint": endpoint,
        "clients": clients,
        "requests": len(lat),
        "p50": percentile(lat, 50),
        "p90": percentile(lat, 90),
        "p99": percentile(lat, 99),
        "mean": sum(lat) / len(lat),
        "max": max(lat),
        "throughput": len(lat) / wall,
        "server_cpu_per_request": cpu / len(lat),
        "wall": wall,
    }


def populate(client: httpx.Client, count: int, name_format: str = "db-{i:03d}") -> list[str]:
    """Create ``count`` databases through the API (PostgreSQL and MySQL in turn, PS_10) and
    wait until all of them are ready."""
    names = []
    for i in range(count):
        name = name_format.format(i=i)
        kind = "postgresql" if i % 2 == 0 else "mysql"
        r = client.post(f"/v1/organizations/{ORG}/databases",
                        json={"name": name, "kind": kind, "cluster_size": "PS_10"})
        if r.status_code != 201:
            raise RuntimeError(f"create {name}: {r.status_code} {r.text}")
        names.append(name)

    def all_ready() -> bool:
        ready = 0
        for page in range(1, -(-count // 100) + 1):
            data = client.get(f"/v1/organizations/{ORG}/databases",
                              params={"per_page": 100, "page": page}).json()["data"]
            ready += sum(1 for d in data if d["ready"])
        return ready >= count

    wait_for(all_ready, 120, f"{count} databases to be ready", every=0.2)
    return names


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    """``bench/api_server.py`` on ``port``, its own session, logging to ``home``/server.log;
    returns once it answers ``/healthz``."""
    log = home / "server.log"
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.api_server", "--home", str(home), "--port",
             str(port)], cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"api server exited: {log.read_text()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(answers, 60, "the API server")
    except BaseException:
        stop_server(proc)
        raise
    return proc


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)



def run(requests: int = 2000, rounds: int = 5, databases: int = 120,
        endpoints: tuple[str, ...] = tuple(ENDPOINTS), concurrency: int = 4,
        settle: float = 2.0, max_seconds: float | None = 20.0,
        idle_seconds: float = 15.0) -> dict[str, Any]:
    """``max_seconds``: a measurement stops early after this long (a slow endpoint then gets
    fewer than ``requests`` requests; the count is reported)."""
    home = make_dir("mb-bench-api-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc: subprocess.Popen[bytes] | None = None
    pool: cf.ProcessPoolExecutor | None = None
    measurements: list[dict[str, Any]] = []
    sizes: dict[str, int] = {}
    idle_cpu = float("nan")
    try:
        proc = start_server(home, port)
        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(concurrency)
        pool = cf.ProcessPoolExecutor(concurrency, mp_context=ctx, initializer=_init_worker,
                                      initargs=(barrier,))
        with httpx.Client(base_url=url, headers=ADMIN, timeout=60) as client:
            print(f"api: creating {databases} databases (FakeProvisioner) ...", flush=True)
            names = populate(client, databases)
            for endpoint in endpoints:
                sizes[endpoint] = len(client.get(_paths(endpoint, names, 1)[0]).content)
            list(pool.map(abs, range(concurrency)))  # start the worker processes
            time.sleep(settle)
            # what the server burns with nobody calling (reconciler, health checks)
            quiet_gate(2.0, threshold=0.15)
            cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
            time.sleep(idle_seconds)
            idle_cpu = (_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
            print(f"  idle server CPU with {databases} databases: {idle_cpu:.1%} of a core",
                  flush=True)
            offset = 0
            for rnd in range(rounds):
                busy = quiet_gate(2.0, threshold=0.15)
                for endpoint in endpoints:
                    for clients in (1, concurrency):
                        m = _measure(endpoint, url, names, requests, client, pool,
                                     clients, proc.pid, offset, max_seconds)
                        offset += requests
                        m["round"] = rnd
                        m["machine_busy_before_round"] = busy
                        measurements.append(m)
                        print(f"  round {rnd} {endpoint:12} clients={clients}: "
                              f"p50 {m['p50']*1000:6.2f} ms  p90 {m['p90']*1000:6.2f}  "
                              f"p99 {m['p99']*1000:6.2f}  {m['throughput']:7.0f} req/s  "
                              f"server CPU {m['server_cpu_per_request']*1000:.2f} ms/req",
                              flush=True)
    except BaseException:
        if pool is not None:  # workers may be blocked in the barrier: do not wait for them
            for worker in list(getattr(pool, "_processes", {}).values()):
                worker.terminate()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if proc is not None:
            stop_server(proc)
        remove(home)
    result = _summarise(measurements, sizes, requests, rounds, databases, concurrency)
    result["config"]["max_seconds_per_measurement"] = max_seconds
    result["idle_server_cpu_cores"] = idle_cpu
    return result


def _summarise(measurements: list[dict[str, Any]], sizes: dict[str, int], requests: int,
               rounds: int, databases: int, concurrency: int) -> dict[str, Any]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for m in measurements:
        groups.setdefault((m["endpoint"], m["clients"]), []).append(m)
    summaries = []
    for (endpoint, clients), ms_ in groups.items():
        summaries.append({
            "endpoint": endpoint,
            "path": ENDPOINTS[endpoint],
            "clients": clients,
            "response_bytes": sizes.get(endpoint),
            "requests_per_round": summary(m["requests"] for m in ms_),
            **{k: summary(m[k] for m in ms_)
               for k in ("p50", "p90", "p99", "throughput", "server_cpu_per_request")},
        })
    by_key = {(s["endpoint"], s["clients"]): s for s in summaries}
    for s in summaries:
        for base in BASELINES:
            b = by_key.get((base, s["clients"]))
            if b and b["p50"]["median"]:
                s[f"p50_vs_{base}"] = s["p50"]["median"] / b["p50"]["median"]
                s[f"throughput_vs_{base}"] = s["throughput"]["median"] / b["throughput"]["median"]
    return {
        "config": {"requests_per_measurement": requests, "rounds": rounds,
                   "databases_in_store": databases, "concurrency": concurrency,
                   "provisioner": "FakeProvisioner (no database servers)",
                   "server": "create_app + uvicorn (asyncio, h11) in a thread of its own process",
                   "store": "SQLite (default)"},
        "summaries": summaries,
        "measurements": measurements,
    }


def report(result: dict[str, Any]) -> str:
    rows = []
    for s in result["summaries"]:
        rows.append([
            s["endpoint"], s["clients"], s["response_bytes"],
            f"{s['requests_per_round']['median']:.0f}",
            fmt_range(s["p50"], digits=2), fmt_range(s["p90"], digits=2),
            fmt_range(s["p99"], digits=2), fmt_range(s["throughput"], scale=1),
            fmt_range(s["server_cpu_per_request"], digits=2),
            f"{s.get('p50_vs_healthz', float('nan')):.1f}x",
            f"{s.get('p50_vs_regions', float('nan')):.1f}x",
            f"{s.get('throughput_vs_healthz', float('nan')):.2f}x",
        ])
    cfg = result["config"]
    idle = result.get("idle_server_cpu_cores")
    return (f"\nServer CPU while idle with {cfg['databases_in_store']} databases (reconciler, "
            f"health checks): {idle:.1%} of a core\n" if idle is not None else "") + table(
        ["endpoint", "clients", "bytes", "requests", "p50 ms", "p90 ms", "p99 ms", "req/s",
         "server CPU ms/req", "p50/healthz", "p50/regions", "req/s vs healthz"],
        rows,
        f"API latency and throughput ({cfg['databases_in_store']} databases, FakeProvisioner; "
        f"up to {cfg['requests_per_measurement']} requests or "
        f"{cfg.get('max_seconds_per_measurement')} s per measurement x {cfg['rounds']} rounds; "
        "median over rounds (min–max))",
    )


def main(**kwargs: Any) -> dict[str, Any]:
    result = run(**kwargs)
    print(report(result))
    path = write_json("api", result)
    print(f"\nJSON: {path}")
    return result

