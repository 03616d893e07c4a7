"""Shared pieces of the benchmarks: folders, statistics, tables, result files, and a
``moonbase up`` process that is always stopped (SIGTERM, then a janitor) when a benchmark ends.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

from moonbase.engines import process

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ORG = "acme"
KINDS_DEFAULT = ("postgresql", "mysql")
ADMIN_ID = "benchadmin01"
ADMIN_SECRET = "pscale_tkn_bench_admin_secret"
ADMIN = {"Authorization": f"{ADMIN_ID}:{ADMIN_SECRET}"}


# --- folders -------------------------------------------------------------------------------


def make_dir(prefix: str) -> Path:
    """A folder under /tmp the unprivileged server account can traverse (mode 0755)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def janitor(*folders: Path) -> list[int]:
    """Stop every process still serving one of ``folders``; returns their pids."""
    found: list[int] = []
    for folder in folders:
        try:
            found += process.kill_all_under(folder)
        except Exception as exc:  # noqa: BLE001 - a janitor must not hide the real error
            print(f"janitor: {folder}: {exc}", file=sys.stderr)
    return found


def remove(*folders: Path) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def sigterm_as_interrupt() -> None:
    """Turn SIGTERM into KeyboardInterrupt so every ``finally`` (and janitor) still runs."""

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, handler)
    # a shell without job control starts background commands with SIGINT ignored: restore it
    signal.signal(signal.SIGINT, signal.default_int_handler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- statistics and output -------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: Iterable[float]) -> dict[str, Any]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None, "values": []}
    return {
        "n": len(vals),
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "values": vals,
    }


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def fmt_range(s: dict[str, Any], scale: float = 1000.0, digits: int = 0) -> str:
    """``median (min–max)`` of a summary, in ms by default."""
    if not s or not s.get("n"):
        return "-"
    f = f"{{:.{digits}f}}"
    return f"{f.format(s['median'] * scale)} ({f.format(s['min'] * scale)}–" \
           f"{f.format(s['max'] * scale)})"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    out = [f"\n{title}"] if title else []
    out += [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    with contextlib.suppress(OSError):
        info["debian"] = Path("/etc/debian_version").read_text().strip()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_mb"] = int(line.split()[1]) // 1024
    except OSError:
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            check=False,
        ).stdout.strip()
        info["work_tree_src_dirty"] = bool(subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True,
            text=True, check=False,
        ).stdout.strip())
    except OSError:
        pass
    import moonbase

    info["moonbase_source"] = os.environ.get("MOONBASE_BENCH_SOURCE",
                                             f"work tree -> {Path(moonbase.__file__).parent}")
    return info


# --- is anything else using the machine? ------------------------------------------------------


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already in user
    return total - idle, total


_HZ = os.sysconf("SC_CLK_TCK")
_mark: dict[str, Any] = {}


def mark_start(quiet: dict[str, Any] | None = None) -> None:
    """Start accounting CPU time: the machine's and this process tree's (see foreign_load)."""
    t = os.times()
    _mark.update(quiet=quiet, jiffies=_cpu_jiffies(), mine=t.user + t.system + t.children_user
                 + t.children_system, wall=time.monotonic())


def foreign_load() -> dict[str, float] | None:
    """CPU used since mark_start, in cores: by the machine, and by processes other than this
    benchmark's (approximate: what this process and its reaped descendants used is subtracted;
    run it when every child has exited)."""
    if not _mark:
        return None
    busy0, total0 = _mark["jiffies"]
    busy1, total1 = _cpu_jiffies()
    t = os.times()
    mine = t.user + t.system + t.children_user + t.children_system - _mark["mine"]
    wall = time.monotonic() - _mark["wall"]
    cores = os.cpu_count() or 1
    busy_cores = (busy1 - busy0) / max(1, total1 - total0) * cores
    return {"quiet_check": _mark.get("quiet"), "seconds": wall,
            "machine_busy_cores": busy_cores,
            "benchmark_cores": mine / wall if wall else 0.0,
            "other_processes_cores": max(0.0, busy_cores - (mine / wall if wall else 0.0))}


def busy_now(seconds: float = 3.0) -> float:
    """Fraction of all CPUs busy over ``seconds``."""
    b0, t0 = _cpu_jiffies()
    time.sleep(seconds)
    b1, t1 = _cpu_jiffies()
    return (b1 - b0) / max(1, t1 - t0)


def top_processes(n: int = 5) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,pcpu,etime,args", "--sort=-pcpu"],
                         capture_output=True, text=True, check=False).stdout.splitlines()
    rows = [line for line in out[1:] if "ps -eo pid,pcpu" not in line]
    return [line[:150] for line in rows[:n]]


def wait_quiet(threshold: float = 0.15, max_wait: float = 600.0) -> dict[str, Any]:
    """Wait (up to ``max_wait`` s) until less than ``threshold`` of the CPUs are busy, so that
    another workload on this machine does not end up in the figures. Returns what was seen."""
    deadline = time.monotonic() + max_wait
    waited = 0.0
    t0 = time.monotonic()
    while True:
        busy = busy_now()
        if busy < threshold:
            return {"busy_at_start": busy, "waited_s": waited}
        if time.monotonic() > deadline:
            print(f"warning: the machine is still {busy:.0%} busy; measuring anyway. Top:\n  "
                  + "\n  ".join(top_processes()), file=sys.stderr, flush=True)
            return {"busy_at_start": busy, "waited_s": waited, "not_quiet": top_processes()}
        if waited == 0.0:
            print(f"waiting for the machine to be quiet ({busy:.0%} busy); top:\n  "
                  + "\n  ".join(top_processes()), file=sys.stderr, flush=True)
        waited = time.monotonic() - t0


def quiet_gate(seconds: float = 1.0, threshold: float = 0.25, max_wait: float = 300.0) -> float:
    """Idle for ``seconds`` (a settle pause) while measuring how busy the machine is; if more
    than ``threshold`` of the CPUs were busy (someone else is working), keep waiting, up to
    ``max_wait`` s. Returns the busy fraction of the last window (recorded with each run)."""
    deadline = time.monotonic() + max_wait
    told = False
    while True:
        busy = busy_now(seconds)
        if busy < threshold or time.monotonic() > deadline:
            return busy
        if not told:
            print(f"    (machine {busy:.0%} busy: waiting for it to quiet down; top: "
                  f"{top_processes(1)[0].strip()[:100]})", file=sys.stderr, flush=True)
            told = True


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{name}-{stamp}.json"
    payload = {
        "benchmark": name,
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "load": foreign_load(),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    load = payload["load"]
    if load:
        print(f"\nmachine: {load['machine_busy_cores']:.2f} of {os.cpu_count()} cores busy on "
              f"average over {load['seconds']:.0f} s, of which about "
              f"{load['other_processes_cores']:.2f} by processes outside this benchmark")
    return path


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def meminfo() -> dict[str, int]:
    """/proc/meminfo in kB."""
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        out[key] = int(rest.split()[0])
    return out


# --- moonbase up as a process -----------------------------------------------------------------


class Moonbase:
    """``moonbase up`` started the way an operator starts it (one process, its own session)."""

    def __init__(self, home: Path, templates: Path, *, spare_pool: int | None = None,
                 log_level: str = "info") -> None:
        self.home = home
        self.templates = templates
        self.spare_pool = spare_pool
        self.log_level = log_level
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / "moonbase.log"
        self.http = httpx.Client(base_url=f"{self.url}/v1", headers=ADMIN, timeout=60)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOONBASE_")}
        env.update(
            MOONBASE_HOME=str(self.home),
            MOONBASE_PORT=str(self.port),
            MOONBASE_ORG=ORG,
            MOONBASE_ADMIN_TOKEN_ID=ADMIN_ID,
            MOONBASE_ADMIN_TOKEN=ADMIN_SECRET,
            MOONBASE_TEMPLATE_DIR=str(self.templates),
            # the benchmarks poll every 10 ms: far beyond the 600 requests a minute a token
            # may make by default
            MOONBASE_RATE_LIMIT="0",
        )
        if self.spare_pool is not None:
            env["MOONBASE_SPARE_POOL"] = str(self.spare_pool)
        return env

    def start(self) -> None:
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moonbase.cli.main", "up", "--log-level", self.log_level],
                env=self.env(), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=ROOT,
            )

        def answers() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"moonbase up exited:\n{self.log_tail()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, 120, "moonbase up to answer")

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def close(self) -> list[int]:
        """Stop moonbase, then kill whatever still serves one of its folders."""
        try:
            self.stop()
        finally:
            self.http.close()
        return janitor(self.home)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    # --- pools ------------------------------------------------------------------------------
    def pool_dirs(self) -> list[Path]:
        return [p for p in self.templates.iterdir() if p.is_dir()] if self.templates.exists() \
            else []

    def ready_spares(self, pool: Path) -> int:
        spares = pool / "spares"
        if not spares.exists():
            return 0
        return sum(1 for p in spares.iterdir() if len(p.name) == 12 and "." not in p.name)

    def pools_full(self, kinds: Iterable[str], size: int) -> bool:
        wanted = set(kinds)
        have = {}
        for pool in self.pool_dirs():
            kind = pool.name.split("-", 1)[0]
            if (pool / "template").exists():
                have[pool.name] = (kind, self.ready_spares(pool))
        found = {kind for kind, _ in have.values()}
        if not wanted <= found:
            return False
        return all(n >= size for kind, n in have.values() if kind in wanted)

    def wait_pools_full(self, kinds: Iterable[str], size: int, timeout: float = 300) -> None:
        kinds = list(kinds)
        wait_for(lambda: self.pools_full(kinds, size), timeout,
                 f"spare pools of {kinds} to hold {size} copies", every=0.1)

    # --- API helpers ------------------------------------------------------------------------
    def database(self, name: str) -> httpx.Response:
        return self.http.get(f"/organizations/{ORG}/databases/{name}")

    def branch(self, name: str) -> dict[str, Any]:
        return self.http.get(f"/organizations/{ORG}/databases/{name}/branches/main").json()

    def delete_and_wait(self, name: str, timeout: float = 120) -> float:
        t0 = time.perf_counter()
        r = self.http.delete(f"/organizations/{ORG}/databases/{name}")
        if r.status_code not in (204, 404):
            raise RuntimeError(f"delete {name}: {r.status_code} {r.text}")
        wait_for(lambda: self.database(name).status_code == 404, timeout,
                 f"database {name} to be gone", every=0.02)
        return time.perf_counter() - t0
