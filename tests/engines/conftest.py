"""Real PostgreSQL and MariaDB servers for the engine tests.

Everything lives under one folder in /tmp made traversable (0755): pytest's own tmp dirs sit
under a 0700 folder that the unprivileged server account cannot enter when the suite runs as
root. Templates are built once per session; every test gets its own folder, and its finalizer
kills whatever still serves that folder, so a failing test never leaves a server behind.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from moonbase.engines.base import Engine, Limits, RunAs, ServerRole, ServerSpec
from moonbase.engines.process import ensure_run_as_user, kill_all_under
from moonbase.engines.registry import discover

LIMITS = Limits(memory_mb=32, max_connections=20)
REPLICATION_PASSWORD = "repl-s3cret-'quoted\"-%s"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


def _make_traversable_dir(parent: str | Path, prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=str(parent)))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def run_as() -> RunAs | None:
    return ensure_run_as_user("moonbase")


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    path = _make_traversable_dir("/tmp", "moonbase-engines-")
    try:
        yield path
    finally:
        kill_all_under(path)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def engines(session_dir: Path, run_as: RunAs | None) -> list[Engine]:
    return discover(session_dir / "binaries", run_as)


@pytest.fixture(scope="session")
def template_for(session_dir: Path) -> Callable[[Engine], Path]:
    """Build each engine's template at most once per session."""
    built: dict[tuple[str, str], Path] = {}

    def get(engine: Engine) -> Path:
        key = (engine.kind, engine.version)
        if key not in built:
            dest = session_dir / "templates" / f"{engine.kind}-{engine.version}"
            dest.parent.mkdir(exist_ok=True)
            dest.parent.chmod(0o755)
            engine.build_template(dest)
            built[key] = dest
        return built[key]

    return get


#: engines every installation has (./dev installs them); others are tested where present
REQUIRED = {("postgresql", "18"), ("mysql", None)}


def _engine(engines: list[Engine], kind: str, version: str | None = None) -> Engine:
    for engine in engines:
        if engine.kind == kind and (version is None or engine.version == version):
            return engine
    if (kind, version) in REQUIRED:
        pytest.fail(f"no {kind} {version or ''} engine on this host: ./dev should install it")
    pytest.skip(f"no {kind} {version or ''} engine on this host (optional)")


@pytest.fixture(scope="session", params=["18", "15"], ids=lambda v: f"pg{v}")
def pg(request: pytest.FixtureRequest, engines: list[Engine]) -> Engine:
    return _engine(engines, "postgresql", request.param)


@pytest.fixture(scope="session")
def mariadb(engines: list[Engine]) -> Engine:
    return _engine(engines, "mysql")


@pytest.fixture
def test_dir(session_dir: Path) -> Iterator[Path]:
    path = _make_traversable_dir(session_dir, "t-")
    try:
        yield path
    finally:
        kill_all_under(path)
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Servers:
    """Creates servers of one engine inside one test's folder."""

    engine: Engine
    template: Path
    folder: Path
    database_name: str
    started: list[ServerSpec] = field(default_factory=list)

    def spec(
        self,
        name: str,
        *,
        role: ServerRole = ServerRole.PRIMARY,
        server_id: int = 1,
        primary: ServerSpec | None = None,
    ) -> ServerSpec:
        return ServerSpec(
            root=self.folder / name,
            port=free_port(),
            limits=LIMITS,
            role=role,
            server_id=server_id,
            primary=primary,
            database_name=self.database_name,
            replication_password=REPLICATION_PASSWORD,
        )

    def create(self, spec: ServerSpec, *, bootstrap: bool = True) -> ServerSpec:
        self.engine.clone_template(self.template, spec.root)
        self.engine.configure(spec)
        self.engine.start(spec)
        self.started.append(spec)
        self.engine.wait_ready(spec, 30.0)
        if bootstrap and spec.role is ServerRole.PRIMARY:
            self.engine.bootstrap_primary(spec)
        return spec

    wait_until = staticmethod(wait_until)

    def primary(self, name: str = "primary") -> ServerSpec:
        return self.create(self.spec(name))

    def replica(self, primary: ServerSpec, server_id: int) -> ServerSpec:
        return self.create(
            self.spec(
                f"replica{server_id}", role=ServerRole.REPLICA, server_id=server_id, primary=primary
            )
        )


@pytest.fixture
def pg_servers(pg: Engine, template_for: Callable[[Engine], Path], test_dir: Path) -> Servers:
    return Servers(pg, template_for(pg), test_dir, "postgres")


@pytest.fixture
def maria_servers(
    mariadb: Engine, template_for: Callable[[Engine], Path], test_dir: Path
) -> Servers:
    return Servers(mariadb, template_for(mariadb), test_dir, "app_db")
