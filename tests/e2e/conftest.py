"""End-to-end fixtures: ``moonbase up`` as a real process with real database servers.

Every process a test starts is stopped at teardown, also when the test fails: Moonbase is
asked to exit (it stops its servers), then a janitor kills anything still serving a folder of
the test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from moonbase.engines import process

from harness import Moonbase
from helpers import make_dir


@pytest.fixture(scope="session")
def templates() -> Iterator[Path]:
    """Data-directory templates shared by every installation of the test session."""
    path = make_dir("moonbase-templates-")
    yield path
    process.kill_all_under(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def moonbase(templates: Path) -> Iterator[Moonbase]:
    home = make_dir("moonbase-e2e-")
    mb = Moonbase(home, templates)
    try:
        mb.start()
        yield mb
    finally:
        mb.stop()
        leftovers = process.kill_all_under(home)
        mb.http.close()
        shutil.rmtree(home, ignore_errors=True)
        assert not leftovers, f"processes were still running after moonbase stopped: {leftovers}"
