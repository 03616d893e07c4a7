"""Run Moonbase's benchmarks.

    .venv/bin/python -m bench.run create     # (a) POST -> ready -> first query, vs a bare start
    .venv/bin/python -m bench.run api        # (b) GET latency, throughput vs /healthz, /v1/regions
    .venv/bin/python -m bench.run memory     # (c) memory per idle ready database
    .venv/bin/python -m bench.run branch     # branch creation vs a schema dump + restore
    .venv/bin/python -m bench.run idle       # idle server CPU vs the number of databases
    .venv/bin/python -m bench.run sql        # SQL over HTTP (serverless driver) vs MySQL protocol
    .venv/bin/python -m bench.run all        # all of them, one after the other

(``.venv/bin/python bench/run.py ...`` works too.) Each prints a table and writes
``bench/results/<name>-<timestamp>.json``. ``--quick`` runs a small version of each (a smoke
test of the benchmark itself; its figures are not worth quoting).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `moonbase` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def use_source(spec: str) -> str:
    """Make ``moonbase`` import from ``spec`` in this process and every process it starts:
    a folder holding the ``moonbase`` package, or a git revision of this repository, extracted
    read-only with ``git archive`` (the work tree and its index are not touched), so the code
    under test cannot change under a benchmark while someone keeps working in the tree."""
    import os
    import subprocess
    import tarfile
    import tempfile

    root = Path(__file__).resolve().parent.parent
    folder = Path(spec)
    if not (folder / "moonbase" / "__init__.py").exists():
        rev = subprocess.run(["git", "rev-parse", "--verify", f"{spec}^{{commit}}"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
        base = Path(tempfile.gettempdir()) / f"mb-bench-src-{rev[:12]}"
        folder = base / "src"
        if not (folder / "moonbase" / "__init__.py").exists():
            archive = subprocess.run(["git", "archive", rev, "src"], cwd=root,
                                     capture_output=True, check=True).stdout
            tmp = Path(tempfile.mkdtemp(prefix=f"mb-bench-src-{rev[:12]}.", dir=base.parent))
            import io

            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(tmp, filter="data")
            tmp.chmod(0o755)
            try:
                tmp.rename(base)
            except OSError:  # another run extracted it first
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
        spec = f"{spec} ({rev[:12]})"
    folder = folder.resolve()
    sys.path.insert(0, str(folder))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])])
    os.environ["MOONBASE_BENCH_SOURCE"] = f"{spec} -> {folder}"
    return spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark",
                        choices=["create", "api", "memory", "branch", "idle", "sql", "all"])
    parser.add_argument("--quick", action="store_true", help="small smoke-test sizes")
    parser.add_argument("--no-wait-quiet", action="store_true",
                        help="do not wait (up to 10 min) for the machine to be idle first")
    g = parser.add_argument_group("create")
    g.add_argument("--runs", type=int, default=7, help="runs per engine and replica count (7)")
    g.add_argument("--poll", type=float, default=0.01, help="GET poll interval, s (0.01)")
    g.add_argument("--no-empty", action="store_true", help="skip the empty-pool runs")
    g.add_argument("--empty-runs", type=int, default=None,
                   help="runs per scenario with an empty pool (default: --runs)")
    g = parser.add_argument_group("api")
    g.add_argument("--requests", type=int, default=2000, help="requests per measurement (2000)")
    g.add_argument("--rounds", type=int, default=5, help="rounds per endpoint (5)")
    g.add_argument("--databases", type=int, default=120, help="databases in the store (120)")
    g.add_argument("--max-seconds", type=float, default=20.0,
                   help="stop a measurement after this long even if short of --requests (20)")
    g = parser.add_argument_group("memory")
    g.add_argument("--count", type=int, default=6, help="databases per engine (6)")
    g.add_argument("--passes", type=int, default=2, help="passes over the scenarios (2)")
    g.add_argument("--drop-caches", action="store_true",
                   help="one more pass that drops the page cache before each MemAvailable read")
    g.add_argument("--replicas", default="0,2", help="replica counts, comma separated (0,2)")
    g = parser.add_argument_group("idle")
    g.add_argument("--idle-databases", default="0,30,120",
                   help="database counts, comma separated; 0 (the baseline) is always measured "
                        "(0,30,120)")
    g.add_argument("--idle-rounds", type=int, default=5, help="samples per count (5)")
    g.add_argument("--idle-seconds", type=float, default=20.0, help="length of a sample, s (20)")
    parser.add_argument("--source", metavar="REV_OR_DIR",
                        help="benchmark this git revision (e.g. HEAD) or this folder holding the "
                             "moonbase package, instead of the work tree's src/")
    args = parser.parse_args(argv)
    if args.source:
        print(f"moonbase from {use_source(args.source)}")
    from bench import common  # imports moonbase: after use_source
    replicas = tuple(int(x) for x in args.replicas.split(",") if x.strip())

    common.sigterm_as_interrupt()
    started = time.monotonic()
    which = (["create", "api", "memory", "branch", "idle", "sql"] if args.benchmark == "all"
             else [args.benchmark])
    try:
        for name in which:
            print(f"\n=== {name} ===", flush=True)
            common.mark_start(None if args.no_wait_quiet else common.wait_quiet())
            if name == "create":
                from bench import create

                create.main(runs=2 if args.quick else args.runs, poll=args.poll,
                            empty=not args.no_empty, replica_counts=replicas,
                            empty_runs=1 if args.quick else args.empty_runs)
            elif name == "branch":
                from bench import branch

                branch.main(runs=1 if args.quick else 5)
            elif name == "sql":
                from bench import sql

                sql.main(rounds=1 if args.quick else 5, count=100 if args.quick else 1000)
            elif name == "idle":
                from bench import idle

                counts = (0, 30) if args.quick else tuple(
                    int(x) for x in args.idle_databases.split(",") if x.strip())
                idle.main(counts=counts, rounds=1 if args.quick else args.idle_rounds,
                          seconds=5.0 if args.quick else args.idle_seconds,
                          settle=2.0 if args.quick else 5.0)
            elif name == "api":
                from bench import api

                api.main(requests=200 if args.quick else args.requests,
                         rounds=1 if args.quick else args.rounds, databases=args.databases,
                         max_seconds=args.max_seconds)
            else:
                from bench import memory

                memory.main(count=2 if args.quick else args.count, replica_counts=replicas,
                            passes=1 if args.quick else args.passes,
                            drop_caches=args.drop_caches, settle=2.0 if args.quick else 5.0)
    except KeyboardInterrupt:
        print("\ninterrupted: every process the benchmark started has been stopped",
              file=sys.stderr)
        return 130
    print(f"\ndone in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
