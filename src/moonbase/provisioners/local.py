"""The local provisioner: every server is a process on this host, in one folder per server.

Layout under the data directory::

    instances/<branch id>/<ordinal>/   one server (0 = primary, 1.. = replicas)
    templates/<kind>-<version>/template       initialised once (initdb / install-db)
    templates/<kind>-<version>/spares/<id>/   ready-made copies of the template

Creating a server takes a spare by renaming it (instant, atomic), so initdb and the copy stay
off the critical path; a background thread refills the pool. Replicas are taken from the same
pool: a cold copy of the primary's template is a valid starting point for a standby.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import logging
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from moonbase.catalog import Offer
from moonbase.engines import process, registry
from moonbase.engines.base import (
    AccessRule,
    Credential,
    CredentialRole,
    Engine,
    EngineError,
    Limits,
    RunAs,
    ServerRole,
    ServerSpec,
)
from moonbase.provisioners.base import (
    BranchPlan,
    CredentialPlan,
    PermanentFailure,
    Progress,
    Provisioner,
    TemporaryFailure,
)

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
SPARE_NAME = re.compile(r"[0-9a-f]{12}")
STREAM_TIMEOUT = 60.0


class TemplatePool:
    """The template and spare copies for one engine version."""

    def __init__(self, engine: Engine, root: Path, size: int) -> None:
        self.engine = engine
        self.root = root
        self.size = size
        self.template = root / "template"
        self.spares = root / "spares"
        self._lock = threading.Lock()
        self._built = threading.Event()
        self.error: str | None = None

    def build(self) -> None:
        """Build the template once (other processes may share the folder: rename is atomic)."""
        with self._lock:
            if not self.template.exists():
                self.root.mkdir(parents=True, exist_ok=True)
                tmp = self.root / f"template.tmp-{uuid.uuid4().hex[:8]}"
                try:
                    self.engine.build_template(tmp)
                    try:
                        tmp.rename(self.template)
                    except OSError:
                        if not self.template.exists():
                            raise
                finally:
                    if tmp.exists():
                        shutil.rmtree(tmp, ignore_errors=True)
            self._built.set()

    def wait_built(self, timeout: float) -> None:
        if not self._built.wait(timeout):
            raise TemporaryFailure(
                f"template for {self.engine.kind} {self.engine.version} is still being built"
            )
        if self.error:
            raise PermanentFailure(self.error)

    def refill(self) -> None:
        self.spares.mkdir(parents=True, exist_ok=True)
        self.sweep()
        while len(self._ready_spares()) < self.size:
            self._clone_to(self.spares / uuid.uuid4().hex[:12])

    def _ready_spares(self) -> list[Path]:
        """Complete copies only: a copy gets its final name (12 hex digits) by one rename once
        it is whole; anything else is a copy in progress, maybe of a process that died."""
        if not self.spares.exists():
            return []
        return [p for p in self.spares.iterdir() if SPARE_NAME.fullmatch(p.name)]

    def sweep(self, older_than: float = 600.0) -> None:
        """Remove copies in progress left by a process that died long ago."""
        if not self.spares.exists():
            return
        now = time.time()
        for path in self.spares.iterdir():
            if SPARE_NAME.fullmatch(path.name):
                continue
            try:
                if now - path.lstat().st_mtime > older_than:
                    shutil.rmtree(path, ignore_errors=True)
            except FileNotFoundError:
                continue

    def _clone_to(self, dest: Path) -> None:
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.engine.clone_template(self.template, tmp)
        tmp.rename(dest)

    def take(self, dest: Path) -> None:
        """Put a fresh copy of the template at ``dest``: a spare if one is left, else a copy."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        for spare in self._ready_spares():
            try:
                spare.rename(dest)
                return
            except OSError:
                continue  # another worker took it
        self._clone_to(dest)


class LocalProvisioner(Provisioner):
    def __init__(
        self,
        home: Path,
        templates: Path,
        *,
        spare_pool: int = 3,
        bind: str = "127.0.0.1",
        server_user: str = "moonbase",
        port_range: tuple[int, int] = (21000, 29999),
    ) -> None:
        self.home = home
        self.instances = home / "instances"
        self.bind = bind
        self.port_range = port_range
        self.run_as: RunAs | None = process.ensure_run_as_user(server_user)
        self.instances.mkdir(parents=True, exist_ok=True)
        if self.run_as is not None:
            process.check_traversable(self.instances, self.run_as)
        self._secret = self._load_secret()
        engines = registry.discover(home / "engines", self.run_as)
        self.engines: dict[tuple[str, str], Engine] = {(e.kind, e.version): e for e in engines}
        self.pools = {
            key: TemplatePool(engine, templates / f"{key[0]}-{key[1]}", spare_pool)
            for key, engine in self.engines.items()
        }
        self._stop = threading.Event()
        self._refill_wanted = threading.Event()
        self._thread: threading.Thread | None = None

    # --- setup ------------------------------------------------------------------------
    def _load_secret(self) -> bytes:
        path = self.home / "secret.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(32))
        return path.read_bytes()

    def offer(self) -> Offer:
        versions: dict[str, list[str]] = {"mysql": [], "postgresql": []}
        for kind, version in self.engines:
            versions.setdefault(kind, []).append(version)
        return Offer(
            {k: tuple(sorted(v, key=_version_key, reverse=True)) for k, v in versions.items()}
        )

    def prepare(self) -> None:
        for pool in self.pools.values():
            try:
                pool.build()
            except Exception as exc:  # noqa: BLE001 - recorded and shown on each branch
                pool.error = f"building the {pool.engine.kind} template failed: {exc}"
                pool._built.set()
                log.error(pool.error)
        self._refill_all()

    def start_background(self) -> None:
        """Build templates and keep spare pools full, in a daemon thread."""
        self._thread = threading.Thread(target=self._background, name="moonbase-pools", daemon=True)
        self._thread.start()

    def _background(self) -> None:
        self.prepare()
        while not self._stop.is_set():
            self._refill_wanted.wait(5.0)
            self._refill_wanted.clear()
            if not self._stop.is_set():
                self._refill_all()

    def _refill_all(self) -> None:
        for pool in self.pools.values():
            if pool.error or self._stop.is_set():
                continue
            try:
                pool.refill()
            except Exception as exc:  # noqa: BLE001 - retried on the next round
                log.warning("refilling spares of %s failed: %s", pool.root.name, exc)

    def close(self) -> None:
        self._stop.set()
        self._refill_wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    # --- ports ------------------------------------------------------------------------
    def free_port(self, taken: set[int]) -> int:
        low, high = self.port_range
        start = low + int.from_bytes(os.urandom(2), "big") % (high - low)
        for offset in range(high - low):
            port = low + (start - low + offset) % (high - low)
            if port not in taken and _port_free(self.bind, port):
                return port
        raise TemporaryFailure("no free port left in the configured range")

    # --- servers ----------------------------------------------------------------------
    def _engine(self, plan: BranchPlan) -> Engine:
        engine = self.engines.get((plan.kind, plan.version))
        if engine is None:
            raise PermanentFailure(f"{plan.kind} {plan.version} is not installed on this host")
        return engine

    def specs(self, plan: BranchPlan) -> list[ServerSpec]:
        limits = Limits(plan.memory_mb, plan.max_connections)
        password = hmac.new(self._secret, f"replication:{plan.branch_id}".encode(), hashlib.sha256)
        common = dict(
            limits=limits,
            host=self.bind,
            database_name=plan.database_name,
            replication_password=password.hexdigest(),
        )
        root = self.instances / plan.branch_id
        primary = ServerSpec(root=root / "0", port=plan.ports[0], **common)  # type: ignore[arg-type]
        replicas = [
            ServerSpec(
                root=root / str(n),
                port=port,
                role=ServerRole.REPLICA,
                server_id=n + 1,
                primary=primary,
                **common,  # type: ignore[arg-type]
            )
            for n, port in enumerate(plan.ports[1:], start=1)
        ]
        return [primary, *replicas]

    def _run(
        self,
        engine: Engine,
        spec: ServerSpec,
        pool: TemplatePool,
        progress: Progress,
        seed_from: ServerSpec | None = None,
    ) -> bool:
        """Start (or adopt) one server; return whether its folder was made just now.

        A replica of a primary that already holds data is seeded from that primary
        (``seed_from``); every other new server starts as a copy of the template."""
        label = "primary" if spec.role == ServerRole.PRIMARY else f"replica {spec.server_id - 1}"
        fresh = not spec.root.exists()
        if fresh:
            if seed_from is not None and self._seed(engine, seed_from, spec, progress, label):
                pass
            else:
                pool.wait_built(timeout=120)
                progress(f"preparing the {label}")
                pool.take(spec.root)
                self._refill_wanted.set()
        engine.configure(spec)
        if engine.running_pid(spec) is None:
            progress(f"starting the {label}")
            engine.start(spec)
        progress(f"waiting for the {label} to answer")
        engine.wait_ready(spec, READY_TIMEOUT)
        return fresh

    @staticmethod
    def _seed(
        engine: Engine, primary: ServerSpec, replica: ServerSpec, progress: Progress, label: str
    ) -> bool:
        try:
            progress(f"copying the primary's data to the {label}")
            engine.seed_replica(primary, replica)
        except NotImplementedError:
            return False  # the engine's replicas replay everything from a template copy
        return True

    def converge(self, plan: BranchPlan, progress: Progress) -> None:
        engine = self._engine(plan)
        pool = self.pools[(plan.kind, plan.version)]
        primary, *replicas = self.specs(plan)
        self._mark_engine(plan)
        try:
            primary_is_new = self._run(engine, primary, pool, progress)
            engine.bootstrap_primary(primary)
            for replica in replicas:
                # a template copy can follow a primary that started from the same template
                # moments ago; a primary that has lived needs a copy of its data
                seeded = not (primary_is_new or engine.replica_from_template)
                self._run(engine, replica, pool, progress, primary if seeded else None)
            for replica in replicas:
                self._wait_streaming(engine, replica, progress)
            self._remove_extra_servers(engine, plan, len(replicas) + 1)
        except EngineError as exc:
            raise (PermanentFailure if exc.permanent else TemporaryFailure)(str(exc)) from exc

    def _wait_streaming(self, engine: Engine, replica: ServerSpec, progress: Progress) -> None:
        progress(f"waiting for replica {replica.server_id - 1} to stream from the primary")
        deadline = time.monotonic() + STREAM_TIMEOUT
        while True:
            status = engine.replica_status(replica)
            if status.streaming:
                return
            if time.monotonic() > deadline:
                raise TemporaryFailure(
                    f"replica {replica.server_id - 1} is not streaming: {status.detail}"
                )
            time.sleep(0.02)

    def _remove_extra_servers(self, engine: Engine, plan: BranchPlan, keep: int) -> None:
        """Replicas beyond the plan (after a demotion): stop, release, remove."""
        root = self.instances / plan.branch_id
        if not root.exists():
            return
        primary = self.specs(plan)[0]
        for folder in root.iterdir():
            if folder.is_dir() and folder.name.isdigit() and int(folder.name) >= keep:
                ordinal = int(folder.name)
                replica = ServerSpec(
                    root=folder,
                    port=0,
                    limits=primary.limits,
                    role=ServerRole.REPLICA,
                    server_id=ordinal + 1,
                    primary=primary,
                )
                engine.stop(replica)
                process.kill_all_under(folder)
                engine.forget_replica(replica)
                shutil.rmtree(folder, ignore_errors=True)

    def _stop_folder(self, engine: Engine, folder: Path, plan: BranchPlan) -> None:
        spec = ServerSpec(root=folder, port=0, limits=Limits(plan.memory_mb, plan.max_connections))
        engine.stop(spec)

    def problem(self, plan: BranchPlan) -> str | None:
        engine = self._engine(plan)
        primary, *replicas = self.specs(plan)
        for spec in (primary, *replicas):
            if engine.running_pid(spec) is None:
                label = "primary" if spec is primary else f"replica {spec.server_id - 1}"
                return f"the {label} is not running"
        return None

    def apply_credential(self, plan: BranchPlan, credential: CredentialPlan) -> None:
        engine = self._engine(plan)
        primary = self.specs(plan)[0]
        try:
            engine.apply_credential(
                primary,
                Credential(
                    username=credential.username,
                    verifier=credential.verifier,
                    role=CredentialRole(credential.role) if credential.role else None,
                    inherited_roles=credential.inherited_roles,
                    cidrs=credential.cidrs,
                    ddl=credential.ddl,
                ),
            )
        except EngineError as exc:
            raise (PermanentFailure if exc.permanent else TemporaryFailure)(str(exc)) from exc

    def drop_credential(self, plan: BranchPlan, username: str) -> None:
        with self._engine_errors():
            self._engine(plan).drop_credential(self.specs(plan)[0], username)

    def drop_owned(self, plan: BranchPlan, username: str, successor: str | None) -> None:
        with self._engine_errors():
            self._engine(plan).drop_owned(self.specs(plan)[0], username, successor)

    def set_access_rules(self, plan: BranchPlan, rules: dict[str, tuple[str, ...]]) -> None:
        engine = self._engine(plan)
        wanted = tuple(AccessRule(cidrs=c, role=user) for user, c in sorted(rules.items()))
        with self._engine_errors():
            for spec in self.specs(plan):
                engine.set_access_rules(spec, wanted)

    def reassign_owned(self, plan: BranchPlan, username: str, successor: str) -> None:
        with self._engine_errors():
            self._engine(plan).reassign_owned(self.specs(plan)[0], username, successor)

    def copy_schema(self, parent: BranchPlan, plan: BranchPlan) -> None:
        engine = self._engine(plan)
        source = self.specs(parent)[0]
        if self._engine(parent).running_pid(source) is None:
            raise TemporaryFailure("waiting for the parent branch's primary to run")
        with self._engine_errors():
            engine.copy_schema(source, self.specs(plan)[0])

    def set_safe_migrations(self, plan: BranchPlan, enabled: bool) -> None:
        with self._engine_errors():
            self._engine(plan).set_safe_migrations(self.specs(plan)[0], enabled)

    def tables(self, plan: BranchPlan) -> list[dict[str, Any]]:
        with self._engine_errors():
            found = self._engine(plan).tables(self.specs(plan)[0])
        return [dataclasses.asdict(t) for t in found]

    @staticmethod
    @contextlib.contextmanager
    def _engine_errors() -> Iterator[None]:
        try:
            yield
        except EngineError as exc:
            raise (PermanentFailure if exc.permanent else TemporaryFailure)(str(exc)) from exc

    def destroy(self, plan: BranchPlan) -> None:
        root = self.instances / plan.branch_id
        if not root.exists():
            return
        engine = self.engines.get((plan.kind, plan.version))
        for folder in sorted(root.iterdir(), reverse=True):  # replicas before the primary
            if not folder.is_dir():
                continue
            if engine is not None:
                self._stop_folder(engine, folder, plan)
            process.kill_all_under(folder)  # anything left, whatever it is
        shutil.rmtree(root)

    # --- all servers ------------------------------------------------------------------
    def _mark_engine(self, plan: BranchPlan) -> None:
        """Record which engine runs a branch's servers, so they can be stopped without the
        store (graceful exit, janitors)."""
        root = self.instances / plan.branch_id
        root.mkdir(parents=True, exist_ok=True)
        marker = root / "engine"
        text = f"{plan.kind} {plan.version}\n"
        if not marker.exists() or marker.read_text() != text:
            marker.write_text(text)

    def stop_all(self) -> None:
        """Stop every server of this installation (replicas first); their files stay."""
        for branch in self.instances.iterdir() if self.instances.exists() else ():
            marker = branch / "engine"
            kind, _, version = (
                marker.read_text().strip().partition(" ") if marker.exists() else ("", "", "")
            )
            engine = self.engines.get((kind, version))
            folders = sorted((p for p in branch.iterdir() if p.is_dir()), reverse=True)
            for folder in folders:
                if engine is not None:
                    engine.stop(ServerSpec(root=folder, port=0, limits=Limits(8, 25)))
                process.kill_all_under(folder)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())
