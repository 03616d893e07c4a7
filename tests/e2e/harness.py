"""A Moonbase installation driven from the outside: ``moonbase up`` as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from helpers import ADMIN_ID, ADMIN_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


class Moonbase:
    """One installation: a data directory and, while running, a ``moonbase up`` process."""

    def __init__(self, home: Path, templates: Path) -> None:
        self.home = home
        self.templates = templates
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(
            base_url=f"{self.url}/v1",
            headers={"Authorization": f"{ADMIN_ID}:{ADMIN_SECRET}"},
            timeout=30,
        )
        self.log = home / "moonbase.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOONBASE_")}
        env.update(
            MOONBASE_HOME=str(self.home),
            MOONBASE_PORT=str(self.port),
            MOONBASE_ORG="acme",
            MOONBASE_ADMIN_TOKEN_ID=ADMIN_ID,
            MOONBASE_ADMIN_TOKEN=ADMIN_SECRET,
            MOONBASE_TEMPLATE_DIR=str(self.templates),
        )
        return env

    def start(self) -> None:
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moonbase.cli.main", "up", "--log-level", "warning"],
            env=self.env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()

        def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_tail()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, 60, "moonbase up to answer")

    def kill(self) -> None:
        """SIGKILL: the servers stay up, as after a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    # --- API helpers --------------------------------------------------------------------
    def create_database(self, name: str, kind: str, replicas: int = 0, **extra: Any) -> Any:
        body = {"name": name, "kind": kind, "cluster_size": "PS_10", "replicas": replicas, **extra}
        response = self.http.post("/organizations/acme/databases", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def database(self, name: str) -> Any:
        return self.http.get(f"/organizations/acme/databases/{name}").json()

    def branch(self, db: str, branch: str = "main") -> Any:
        return self.http.get(f"/organizations/acme/databases/{db}/branches/{branch}").json()

    def wait_ready(self, name: str, timeout: float = 120) -> Any:
        def ready() -> Any:
            db = self.database(name)
            return db if db.get("ready") else None

        try:
            return wait_for(ready, timeout, f"database {name} to be ready", every=0.02)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nbranch: {self.branch(name)}\n{self.log_tail()}") from None
