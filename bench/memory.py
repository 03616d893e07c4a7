"""(c) memory: what one idle, ready database costs in memory, against a real ``moonbase up``.

For each engine (and replicas 0, then 2): create ``--count`` databases (PS_10), wait until all
are ready, let the spare pools refill and the servers settle, then

* **Pss** (proportional set size, ``/proc/<pid>/smaps_rollup``) summed over the processes of
  each database: shared pages (the server binary, libraries, shared memory) are divided among
  the processes mapping them, so the sum over all databases adds up to what they use together.
  Two process sets are reported:

  - ``pids_under``: ``moonbase.engines.process.pids_under(folder)`` for each server folder of
    the database (processes whose command line names the folder). For PostgreSQL this is only
    the postmaster: its auxiliary processes (checkpointer, walwriter, io workers ...) rewrite
    their command line and are not found this way;
  - ``tree``: those processes and all their descendants (the whole server). This is the
    figure to use.

* **MemAvailable drop** (``/proc/meminfo``) from before the databases were created to after,
  divided by their number: the marginal cost on this host, including what Pss cannot see
  (kernel memory, page tables, socket buffers) and whatever moonbase itself grew by.

The databases are deleted afterwards (and the drop after deletion is reported as a check).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import (
    KINDS_DEFAULT,
    ORG,
    Moonbase,
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
from moonbase.engines import process

FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem", "Private_Clean", "Private_Dirty")


def smaps_rollup(pid: int) -> dict[str, int]:
    """kB per field of /proc/<pid>/smaps_rollup (empty if the process is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in FIELDS:
                    out[key] = int(rest.split()[0])
    except OSError:
        return {}
    return out


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(pids: list[int], kids: dict[int, list[int]]) -> list[int]:
    seen: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        todo.extend(kids.get(pid, []))
    return sorted(seen)


def add(totals: dict[str, int], pids: list[int]) -> None:
    for pid in pids:
        for key, value in smaps_rollup(pid).items():
            totals[key] = totals.get(key, 0) + value


def mem_available(samples: int = 5, every: float = 0.2) -> float:
    """Median MemAvailable (kB) over a second."""
    vals = []
    for _ in range(samples):
        vals.append(meminfo()["MemAvailable"])
        time.sleep(every)
    return statistics.median(vals)


def reading(drop_caches: bool) -> float:
    """MemAvailable (kB); with ``drop_caches`` (root only) right after ``sync`` and dropping the
    page cache, dentries and inodes, which takes the reclaimable caches (that MemAvailable only
    estimates) out of the figure."""
    if drop_caches:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        time.sleep(0.5)
    return mem_available()


def measure_database(mb: Moonbase, name: str, kids: dict[int, list[int]]) -> dict[str, Any]:
    branch = mb.branch(name)
    folder = mb.home / "instances" / branch["id"]
    servers = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
    direct: dict[str, int] = {}
    tree: dict[str, int] = {}
    procs_direct = procs_tree = 0
    for server in servers:
        pids = process.pids_under(server)
        all_pids = descendants(pids, kids)
        procs_direct += len(pids)
        procs_tree += len(all_pids)
        add(direct, pids)
        add(tree, all_pids)
    return {
        "name": name,
        "servers": len(servers),
        "processes_pids_under": procs_direct,
        "processes_tree": procs_tree,
        "pids_under_kb": direct,
        "tree_kb": tree,
    }


def _create(mb: Moonbase, names: list[str], kind: str, replicas: int) -> float:
    t0 = time.perf_counter()
    for name in names:
        r = mb.http.post(f"/organizations/{ORG}/databases",
                         json={"name": name, "kind": kind, "cluster_size": "PS_10",
                               "replicas": replicas})
        if r.status_code != 201:
            raise RuntimeError(f"create {name}: {r.status_code} {r.text}")
    for name in names:
        wait_for(lambda n=name: mb.database(n).json().get("ready"), 300, f"{name} ready", 0.05)
    return time.perf_counter() - t0


def _delete(mb: Moonbase, names: list[str]) -> None:
    folders = [mb.home / "instances" / mb.branch(n)["id"] for n in names]
    for name in names:
        d = mb.http.delete(f"/organizations/{ORG}/databases/{name}")
        if d.status_code != 204:
            raise RuntimeError(f"delete {name}: {d.status_code} {d.text}")
    for folder in folders:
        wait_for(lambda f=folder: not f.exists(), 120, f"{folder} removed", 0.05)


def _settle(mb: Moonbase, settle: float) -> None:
    mb.wait_pools_full(KINDS_DEFAULT, POOL)
    quiet_gate(settle)


def scenario(mb: Moonbase, kind: str, replicas: int, count: int, settle: float, tag: str,
             drop_caches: bool) -> dict[str, Any]:
    """One warm-up database (its servers map the engine's binary and libraries, which later
    ones share), then ``count`` more: the MemAvailable drop over those is the marginal cost."""
    warm = [f"{tag}-{kind[:2]}-r{replicas}-w"]
    names = [f"{tag}-{kind[:2]}-r{replicas}-{i}" for i in range(count)]
    _create(mb, warm, kind, replicas)
    _settle(mb, settle)
    moonbase_before = smaps_rollup(mb.pid).get("Pss", 0)
    before = reading(drop_caches)
    all_ready = _create(mb, names, kind, replicas)
    _settle(mb, settle)
    after = reading(drop_caches)
    moonbase_after = smaps_rollup(mb.pid).get("Pss", 0)
    kids = children_map()
    dbs = [measure_database(mb, name, kids) for name in warm + names]
    _delete(mb, names)
    _settle(mb, settle)
    after_delete = reading(drop_caches)
    _delete(mb, warm)
    result = {
        "kind": kind,
        "replicas": replicas,
        "count": count,
        "caches_dropped": drop_caches,
        "seconds_until_all_ready": all_ready,
        "databases": dbs,
        "mem_available_before_kb": before,
        "mem_available_after_kb": after,
        "mem_available_after_delete_kb": after_delete,
        "mem_available_drop_per_db_mib": (before - after) / count / 1024,
        "mem_available_not_returned_per_db_mib": (before - after_delete) / count / 1024,
        "moonbase_pss_before_mib": moonbase_before / 1024,
        "moonbase_pss_after_mib": moonbase_after / 1024,
    }
    pss = statistics.median(d["tree_kb"].get("Pss", 0) for d in dbs) / 1024
    print(f"  {kind:10} replicas={replicas} caches_dropped={drop_caches!s:5}: Pss per database "
          f"{pss:.1f} MiB, MemAvailable drop {result['mem_available_drop_per_db_mib']:.1f} MiB "
          f"per database (not returned after delete: "
          f"{result['mem_available_not_returned_per_db_mib']:.1f})", flush=True)
    return result


POOL = 3


def run(count: int = 6, replica_counts: tuple[int, ...] = (0, 2), settle: float = 5.0,
        passes: int = 2, drop_caches: bool = False) -> dict[str, Any]:
    """``passes`` passes over (replicas x engine), each reading MemAvailable as is; with
    ``drop_caches`` (root only) one more pass that drops the caches before each reading. Pss is
    measured in every pass."""
    home = make_dir("mb-bench-mem-")
    templates = make_dir("mb-bench-memtpl-")
    mb = Moonbase(home, templates, log_level="warning")
    scenarios = []
    idle: dict[str, Any] = {}
    modes = [False] * passes + ([True] if drop_caches and os.geteuid() == 0 else [])
    try:
        print("memory: starting moonbase up and building templates ...", flush=True)
        mb.start()
        _settle(mb, settle)
        idle["moonbase_pss_mib"] = smaps_rollup(mb.pid).get("Pss", 0) / 1024
        for n, drop in enumerate(modes):
            for replicas in replica_counts:
                for kind in KINDS_DEFAULT:
                    scenarios.append(scenario(mb, kind, replicas, count, settle, f"m{n}", drop))
    finally:
        leftovers = mb.close()
        if leftovers:
            print(f"janitor stopped leftover processes: {leftovers}")
        janitor(templates)
        remove(home, templates)
    return {
        "config": {"count": count, "replicas": list(replica_counts), "settle_s": settle,
                   "cluster_size": "PS_10", "spare_pool": POOL,
                   "passes_caches_dropped": modes},
        "idle_moonbase": idle,
        "scenarios": scenarios,
        "summary": _summary(scenarios),
    }


def _summary(scenarios: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for sc in scenarios:
        groups.setdefault((sc["kind"], sc["replicas"]), []).append(sc)
    out = []
    for (kind, replicas), scs in groups.items():
        dbs = [d for sc in scs for d in sc["databases"]]

        def per_db(key: str, *fields: str, dbs: list[dict[str, Any]] = dbs) -> dict[str, Any]:
            return summary(sum(d[key].get(f, 0) for f in fields) / 1024 for d in dbs)  # MiB

        plain = [sc for sc in scs if not sc["caches_dropped"]]
        dropped = [sc for sc in scs if sc["caches_dropped"]]
        out.append({
            "kind": kind,
            "replicas": replicas,
            "servers_per_database": replicas + 1,
            "databases_measured": len(dbs),
            "processes_per_database": statistics.median(d["processes_tree"] for d in dbs),
            "processes_found_by_pids_under": statistics.median(d["processes_pids_under"]
                                                               for d in dbs),
            "pss_tree_mib": per_db("tree_kb", "Pss"),
            "pss_pids_under_mib": per_db("pids_under_kb", "Pss"),
            "rss_tree_mib": per_db("tree_kb", "Rss"),
            "private_tree_mib": per_db("tree_kb", "Private_Clean", "Private_Dirty"),
            "pss_anon_tree_mib": per_db("tree_kb", "Pss_Anon"),
            "pss_file_tree_mib": per_db("tree_kb", "Pss_File"),
            "pss_shmem_tree_mib": per_db("tree_kb", "Pss_Shmem"),
            "mem_available_drop_per_db_mib": [sc["mem_available_drop_per_db_mib"]
                                              for sc in plain],
            "mem_available_drop_caches_dropped_per_db_mib": [
                sc["mem_available_drop_per_db_mib"] for sc in dropped],
            "not_returned_caches_dropped_per_db_mib": [
                sc["mem_available_not_returned_per_db_mib"] for sc in dropped],
        })
    return out


def _r(s: dict[str, Any]) -> str:
    if not s.get("n"):
        return "-"
    return f"{s['median']:.1f} ({s['min']:.1f}–{s['max']:.1f})"


def _l(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values) or "-"


def report(result: dict[str, Any]) -> str:
    rows = []
    for sc in result["summary"]:
        rows.append([
            sc["kind"], sc["replicas"], sc["databases_measured"],
            f"{sc['processes_per_database']:.0f} ({sc['processes_found_by_pids_under']:.0f})",
            _r(sc["pss_tree_mib"]),
            f"{sc['pss_tree_mib']['median'] / sc['servers_per_database']:.1f}",
            _r(sc["pss_pids_under_mib"]),
            _r(sc["pss_anon_tree_mib"]), _r(sc["pss_shmem_tree_mib"]),
            _r(sc["pss_file_tree_mib"]), _r(sc["private_tree_mib"]), _r(sc["rss_tree_mib"]),
            _l(sc["mem_available_drop_per_db_mib"]),
            _l(sc["mem_available_drop_caches_dropped_per_db_mib"]),
            _l(sc["not_returned_caches_dropped_per_db_mib"]),
        ])
    idle = result.get("idle_moonbase", {})
    return table(
        ["engine", "replicas", "dbs", "procs/db (pids_under)", "Pss/db", "Pss/server",
         "Pss/db pids_under only", "Pss anon", "Pss shmem", "Pss file", "Private", "Rss",
         "MemAvailable drop/db", "same, caches dropped", "not returned after delete"],
        rows,
        "Memory per idle ready database (PS_10), MiB, median over databases (min–max); "
        f"moonbase up itself: Pss {idle.get('moonbase_pss_mib', 0):.1f} MiB",
    )


def main(**kwargs: Any) -> dict[str, Any]:
    result = run(**kwargs)
    print(report(result))
    path = write_json("memory", result)
    print(f"\nJSON: {path}")
    return result

