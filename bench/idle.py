"""idle: the CPU an idle Moonbase process uses, against the number of databases it holds.

The server is the API benchmark's (``bench/api_server.py``): Moonbase's own app with the
**FakeProvisioner** (no database server is started) and the defaults of ``moonbase up``
(SQLite store, reconciler every 2 s, health checks every 5 s), served by uvicorn in a process
of its own. Nobody calls it while it is measured: what it uses is its background work — the
reconciler's passes, the health check of every ready branch, the schema snapshot of every
branch read again once it is 60 s old.

For each database count (``--idle-databases``, 0 first: the baseline of the same run) a fresh
server in a fresh home: create the databases through the API (PostgreSQL and MySQL in turn,
PS_10), wait until all are ready, let it settle, then take ``--idle-rounds`` samples of
``--idle-seconds`` each of the server's CPU time (utime + stime of ``/proc/<pid>/stat``, which
covers all its threads) ÷ wall time = **% of one core**. Per count: median, min and max of the
samples; **per database** = (median − median with 0 databases) ÷ count.

The schema snapshots of databases created together are refreshed together, once a minute: a
sample that holds such a wave reads higher than one that does not (the max), and the median of
5 samples of 20 s is that of the samples between waves. ``mean`` is total CPU ÷ total time of
all samples.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from typing import Any

import httpx

from bench.api import _cpu_seconds, populate, start_server, stop_server
from bench.common import (
    ADMIN,
    busy_now,
    fmt_range,
    free_port,
    janitor,
    make_dir,
    quiet_gate,
    remove,
    summary,
    table,
    write_json,
)

COUNTS = (0, 30, 120)
CPUS = os.cpu_count() or 1


def _sample(pid: int, seconds: float) -> dict[str, float]:
    """CPU of process ``pid`` (all its threads) over ``seconds``, how busy the machine was, and
    how busy it was without ``pid`` (fractions of all CPUs)."""
    cpu0, t0 = _cpu_seconds(pid), time.monotonic()
    busy = busy_now(seconds)
    cpu, wall = _cpu_seconds(pid) - cpu0, time.monotonic() - t0
    return {"cpu_s": cpu, "wall_s": wall, "cores": cpu / wall, "machine_busy": busy,
            "others_busy": max(0.0, busy - cpu / wall / CPUS)}


def scenario(count: int, rounds: int, seconds: float, settle: float) -> dict[str, Any]:
    """One fresh server with ``count`` databases, ``rounds`` samples of its idle CPU."""
    home = make_dir("mb-bench-idle-")
    port = free_port()
    proc: subprocess.Popen[bytes] | None = None
    samples: list[dict[str, Any]] = []
    try:
        proc = start_server(home, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=ADMIN,
                          timeout=60) as client:
            t0 = time.monotonic()
            populate(client, count, name_format="db{i}")
            ready = time.monotonic()
        cpu0 = _cpu_seconds(proc.pid)
        time.sleep(settle)
        # the server's share of the CPUs
        own = (_cpu_seconds(proc.pid) - cpu0) / max(settle, 0.01) / CPUS
        for rnd in range(rounds):
            # the machine is quiet when the others use < 15 % of it: the server itself does not
            # count (at 10 % of a core and more it would hold up every sample)
            busy = quiet_gate(2.0, threshold=0.15 + own)
            if proc.poll() is not None:
                raise RuntimeError(f"api server exited: "
                                   f"{(home / 'server.log').read_text()[-2000:]}")
            start = time.monotonic() - ready
            s = _sample(proc.pid, seconds)
            s.update(round=rnd, start_s_after_ready=start, machine_busy_before=busy)
            samples.append(s)
            own = s["cores"] / CPUS
            print(f"  {count:4} databases, sample {rnd}: {s['cores']:6.2%} of a core "
                  f"({s['cpu_s'] * 1000:.0f} ms CPU in {s['wall_s']:.1f} s, "
                  f"{start:.0f} s after ready; machine {s['machine_busy']:.0%} busy, "
                  f"{s['others_busy']:.0%} without the server)",
                  flush=True)
    finally:
        if proc is not None:
            stop_server(proc)
        leftovers = janitor(home)
        if leftovers:
            print(f"janitor stopped leftover processes: {leftovers}")
        remove(home)
    return {
        "databases": count,
        "seconds_until_all_ready": ready - t0,
        "samples": samples,
        "cores": summary(s["cores"] for s in samples),
        "mean_cores": sum(s["cpu_s"] for s in samples)
        / (sum(s["wall_s"] for s in samples) or 1.0),
        "machine_busy_during": summary(s["machine_busy"] for s in samples),
        "others_busy_during": summary(s["others_busy"] for s in samples),
    }


def run(counts: tuple[int, ...] = COUNTS, rounds: int = 5, seconds: float = 20.0,
        settle: float = 5.0) -> dict[str, Any]:
    """The 0-database server (the baseline) is always measured, first."""
    counts = (0, *sorted(set(counts) - {0}))
    scenarios = []
    for count in counts:
        print(f"idle: fresh server, {count} databases (FakeProvisioner) ...", flush=True)
        scenarios.append(scenario(count, rounds, seconds, settle))
    base = scenarios[0]["cores"]["median"]
    for sc in scenarios:
        n = sc["databases"]
        sc["cores_per_database"] = (sc["cores"]["median"] - base) / n if n else None
    return {
        "config": {"databases": list(counts), "rounds": rounds, "seconds_per_sample": seconds,
                   "settle_s": settle, "provisioner": "FakeProvisioner (no database servers)",
                   "server": "create_app + uvicorn (asyncio, h11) in a thread of its own "
                             "process, defaults of moonbase up (reconcile 2 s, health 5 s)",
                   "store": "SQLite (default)"},
        "scenarios": scenarios,
    }


def report(result: dict[str, Any]) -> str:
    rows = []
    for sc in result["scenarios"]:
        per_db = sc["cores_per_database"]
        rows.append([
            sc["databases"], sc["cores"]["n"], fmt_range(sc["cores"], scale=100, digits=2),
            f"{sc['mean_cores']:.2%}",
            "-" if per_db is None else f"{per_db * 100:.4f}",
            f"{sc['seconds_until_all_ready']:.1f}",
            f"{statistics.median(s['others_busy'] for s in sc['samples']):.0%}"
            if sc["samples"] else "-",
        ])
    cfg = result["config"]
    return table(
        ["databases", "samples", "% of a core", "mean %", "% per database (vs 0)",
         "create+ready s", "others busy"],
        rows,
        f"Idle server CPU (FakeProvisioner; {cfg['rounds']} samples of "
        f"{cfg['seconds_per_sample']:g} s after {cfg['settle_s']:g} s; median (min–max))",
    )


def main(**kwargs: Any) -> dict[str, Any]:
    result = run(**kwargs)
    print(report(result))
    path = write_json("idle", result)
    print(f"\nJSON: {path}")
    return result
