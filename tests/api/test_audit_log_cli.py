"""``moonbase audit-log list`` against a served installation (fake provisioner, real HTTP)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from audit_support import audit_entries, update_org
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from moonbase.cli.main import app as cli_app

from api_support import ADMIN_ID, ADMIN_SECRET, installation, wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served() -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The installation served on a local port; the CLI's environment to reach it."""
    with installation() as (client, _fake):
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(client.app, host="127.0.0.1", port=port, log_level="warning",
                           lifespan="off")  # fmt: skip
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: server.started, what="the server to start")
            home = Path(client.app.state.settings.home)  # type: ignore[attr-defined]
            env = {
                "MOONBASE_HOME": str(home / "no-cli-config"),
                "MOONBASE_URL": f"http://127.0.0.1:{port}",
                "MOONBASE_ORG": "acme",
                "MOONBASE_TOKEN_ID": ADMIN_ID,
                "MOONBASE_TOKEN": ADMIN_SECRET,
            }
            yield client, env
        finally:
            server.should_exit = True
            deadline = time.monotonic() + 10
            thread.join(max(0.0, deadline - time.monotonic()))
            assert not thread.is_alive(), "the server thread did not stop"


def _cli(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli_app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_list_as_json_with_a_limit(served: tuple[TestClient, dict[str, str]]) -> None:
    api, env = served
    for n in range(5):
        update_org(api, n)
    newest = [e["id"] for e in audit_entries(api)]
    shown = json.loads(_cli(env, "audit-log", "list", "--limit", "3", "--format", "json"))
    assert [e["id"] for e in shown] == newest[:3]
    assert shown[0]["audit_action"] == "organization.updated"
    rest = json.loads(_cli(env, "audit-log", "list", "--starting-after", newest[2], "-f", "json"))
    assert [e["id"] for e in rest] == newest[3:]


def test_a_limit_beyond_one_page_pages_through(served: tuple[TestClient, dict[str, str]]) -> None:
    api, env = served
    for n in range(105):
        update_org(api, n)
    shown = json.loads(_cli(env, "audit-log", "list", "--limit", "104", "--format", "json"))
    assert len(shown) == 104 and len({e["id"] for e in shown}) == 104
    emails = [e["metadata"]["billing_email"] for e in shown]
    assert emails[0] == "billing104@example.com" and emails[-1] == "billing1@example.com"


def test_human_output_and_action_filter(served: tuple[TestClient, dict[str, str]]) -> None:
    api, env = served
    assert "No audit log entries" in _cli(env, "audit-log", "list")
    update_org(api, 1)
    created = api.post("/v1/organizations/acme/databases",
                       json={"name": "shop", "cluster_size": "PS_10"})  # fmt: skip
    assert created.status_code == 201, created.text
    table = _cli({**env, "COLUMNS": "200"}, "audit-log", "list")
    assert "Created shop" in table and "database.created" in table and "admin" in table
    only = json.loads(
        _cli(env, "audit-log", "list", "--action", "organization.updated", "--format", "json")
    )
    assert [e["audit_action"] for e in only] == ["organization.updated"]


def test_api_errors_are_reported(served: tuple[TestClient, dict[str, str]]) -> None:
    _api, env = served
    result = CliRunner().invoke(cli_app, ["audit-log", "list"], env={**env, "MOONBASE_TOKEN": "x"})
    assert result.exit_code == 1 and "unauthorized" in result.output
