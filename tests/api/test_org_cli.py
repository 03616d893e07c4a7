"""``moonbase org create`` (on the host, against the store) and ``moonbase org members`` (over
HTTP), against installations on the fake provisioner."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from moonbase.app import create_app
from moonbase.cli.main import app as cli_app
from moonbase.models import Membership, Organization, ServiceToken, User
from moonbase.passwords import check_password
from moonbase.provisioners.fake import FakeProvisioner

from api_support import (
    ADMIN_ID,
    ADMIN_SECRET,
    assert_error,
    create_db,
    org_path,
    settings_for,
    store,
)
from helpers import make_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli_app, list(args), env={"MOONBASE_STORE_URL": None, **(env or {})})  # type: ignore[dict-item]


def create(home: Path, *args: str) -> dict[str, Any]:
    result = run("org", "create", *args, "--data-dir", str(home), "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def rows(app: FastAPI) -> tuple[int, int, int, int]:
    with store(app).tx() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(m)) or 0
            for m in (Organization, ServiceToken, User, Membership)
        )


def test_org_create_makes_an_isolated_organization(
    api: TestClient, app: FastAPI, home: Path
) -> None:
    create_db(api, "shop")
    made = create(home, "globex", "--admin-email", "gus@example.com")
    assert made["organization"] == "globex" and made["token"].startswith("pscale_tkn_")
    assert made["admin"]["email"] == "gus@example.com" and made["admin"]["password"]
    headers = {"Authorization": f"{made['token_id']}:{made['token']}"}

    # the new token works, for its organization only
    orgs = api.get("/v1/organizations", headers=headers)
    assert orgs.status_code == 200, orgs.text
    assert [o["name"] for o in orgs.json()["data"]] == ["globex"]
    assert api.get(f"{org_path('globex')}/databases", headers=headers).json()["data"] == []
    assert_error(api.get(f"{org_path()}/databases", headers=headers), 404, "not_found")
    assert_error(api.get(f"{org_path()}/databases/shop", headers=headers), 404, "not_found")
    created = api.post(f"{org_path('globex')}/databases", headers=headers,
                       json={"name": "gadgets", "cluster_size": "PS_10"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert [d["name"] for d in api.get(f"{org_path()}/databases").json()["data"]] == ["shop"]
    assert_error(api.get(f"{org_path('globex')}/databases/gadgets"), 404, "not_found")

    # its admin is a new user, who can sign in with the password shown once
    members = api.get(f"{org_path('globex')}/members", headers=headers).json()["data"]
    assert [(m["user"]["email"], m["role"]) for m in members] == [("gus@example.com", "admin")]
    with store(app).tx() as s:
        user = s.scalar(select(User).where(User.email == "gus@example.com"))
        assert user is not None and check_password(made["admin"]["password"], user.password_hash)


def test_an_existing_user_becomes_admin(api: TestClient, app: FastAPI, home: Path) -> None:
    made = create(home, "initech", "--admin-email", "ADMIN@localhost")
    assert made["admin"]["email"] == "admin@localhost" and "password" not in made["admin"]
    headers = {"Authorization": f"{made['token_id']}:{made['token']}"}
    members = api.get(f"{org_path('initech')}/members", headers=headers).json()["data"]
    assert [(m["user"]["email"], m["role"]) for m in members] == [("admin@localhost", "admin")]
    # and without --admin-email, only the token
    bare = create(home, "hooli")
    assert bare["admin"] is None
    hooli = {"Authorization": f"{bare['token_id']}:{bare['token']}"}
    assert api.get(f"{org_path('hooli')}/members", headers=hooli).json()["data"] == []


def test_org_create_refuses_bad_input_and_writes_nothing(
    api: TestClient, app: FastAPI, home: Path
) -> None:
    before = rows(app)
    for args, words in (
        (["acme"], "already exists"),
        (["Bad_Name"], "Invalid organization name"),
        (["dash-"], "Invalid organization name"),
        (["x" * 65], "Invalid organization name"),
        (["fine", "--admin-email", "not-an-address"], "Invalid email"),
    ):
        result = run("org", "create", *args, "--data-dir", str(home))
        assert result.exit_code == 1, (args, result.output)
        assert words in result.output, result.output
    assert rows(app) == before
    assert_error(api.get(org_path("fine")), 404, "not_found")


def test_org_create_needs_an_installation() -> None:
    empty = make_dir("moonbase-empty-")
    try:
        result = run("org", "create", "globex", "--data-dir", str(empty))
        assert result.exit_code == 2, result.output
        assert "moonbase up" in result.output
        assert list(empty.iterdir()) == []  # nothing made on the way
    finally:
        shutil.rmtree(empty, ignore_errors=True)


# --- moonbase org members, over HTTP ------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[str, FastAPI]]:
    """An installation on the fake provisioner, served over HTTP on a free port."""
    home = make_dir("moonbase-served-")
    fake = FakeProvisioner()
    application = create_app(settings_for(home), lambda _s: fake)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}", application
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "server did not stop"
        shutil.rmtree(home, ignore_errors=True)


def test_org_members_lists_the_members(served: tuple[str, FastAPI]) -> None:
    url, application = served
    with store(application).tx() as s:
        org = s.scalar(select(Organization).where(Organization.name == "acme"))
        assert org is not None
        user = User(email="ada@example.com", name="Ada")
        s.add(user)
        s.flush()
        s.add(Membership(organization_id=org.id, user_id=user.id, role="member"))
    env = {"MOONBASE_URL": url, "MOONBASE_ORG": "acme", "MOONBASE_TOKEN_ID": ADMIN_ID,
           "MOONBASE_TOKEN": ADMIN_SECRET}  # fmt: skip
    result = run("org", "members", "--format", "json", env=env)
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [(m["user"]["email"], m["role"]) for m in listed] == [
        ("admin@localhost", "admin"), ("ada@example.com", "member"),
    ]  # fmt: skip
    human = run("org", "members", env=env)
    assert human.exit_code == 0 and "ada@example.com" in human.output
    wrong = run("--org", "globex", "org", "members", env=env)
    assert wrong.exit_code == 1 and "not_found" in wrong.output
