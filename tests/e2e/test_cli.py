"""The ``moonbase`` CLI against a running installation (real process, real servers)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from moonbase.cli.main import app
from moonbase.engines import process

from harness import Moonbase, wait_for
from helpers import make_dir


def cli(moonbase: Moonbase, *args: str) -> str:
    env = {
        "MOONBASE_URL": moonbase.url,
        "MOONBASE_ORG": "acme",
        "MOONBASE_TOKEN_ID": moonbase.env()["MOONBASE_ADMIN_TOKEN_ID"],
        "MOONBASE_TOKEN": moonbase.env()["MOONBASE_ADMIN_TOKEN"],
    }
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, f"moonbase {' '.join(args)} failed:\n{result.output}"
    return result.output


def test_database_and_credential_commands(moonbase: Moonbase) -> None:
    created = json.loads(
        cli(moonbase, "database", "create", "clidb", "--kind", "postgresql", "--wait",
            "--format", "json")
    )  # fmt: skip
    assert created["ready"] is True and created["kind"] == "postgresql"
    listed = json.loads(cli(moonbase, "database", "list", "--format", "json"))
    assert [d["name"] for d in listed] == ["clidb"]
    assert "clidb" in cli(moonbase, "database", "show", "clidb")

    role = json.loads(
        cli(moonbase, "role", "create", "clidb", "main", "app", "--inherited-roles",
            "pg_read_all_data", "--format", "json")
    )  # fmt: skip
    host, _, port = role["access_host_url"].rpartition(":")
    with psycopg.connect(
        host=host, port=int(port), user=role["username"], password=role["password"],
        dbname="postgres",
    ) as conn:  # fmt: skip
        assert conn.execute("SELECT 1").fetchone() == (1,)
    roles = json.loads(cli(moonbase, "role", "list", "clidb", "main", "--format", "json"))
    assert [r["id"] for r in roles] == [role["id"]]
    assert all(r["password"] == "" for r in roles), "a listed role must not show a password"
    cli(moonbase, "role", "delete", "clidb", "main", role["id"])
    assert json.loads(cli(moonbase, "role", "list", "clidb", "main", "--format", "json")) == []

    cli(moonbase, "database", "create", "clistore", "--wait")
    pw = json.loads(
        cli(moonbase, "password", "create", "clistore", "main", "--role", "reader",
            "--format", "json")
    )  # fmt: skip
    assert pw["role"] == "reader" and pw["plain_text"].startswith("pscale_pw_")
    listed_pw = json.loads(
        cli(moonbase, "password", "list", "clistore", "main", "--format", "json")
    )
    assert [p["plain_text"] for p in listed_pw] == [None]
    cli(moonbase, "password", "delete", "clistore", "main", pw["id"])

    assert "acme" in cli(moonbase, "org", "list")
    assert "us-east" in cli(moonbase, "region", "list")
    sizes = json.loads(cli(moonbase, "size", "list", "--engine", "postgresql", "--format", "json"))
    assert "PS_5" in [s["name"] for s in sizes]

    cli(moonbase, "database", "delete", "clidb", "--force")
    assert (
        json.loads(cli(moonbase, "database", "list", "--format", "json"))[0]["name"] == "clistore"
    )


def test_cli_reports_api_errors(moonbase: Moonbase) -> None:
    env = {"MOONBASE_URL": moonbase.url, "MOONBASE_ORG": "acme",
           "MOONBASE_TOKEN_ID": "nobody", "MOONBASE_TOKEN": "wrong"}  # fmt: skip
    result = CliRunner().invoke(app, ["database", "list"], env=env)
    assert result.exit_code == 1
    assert "unauthorized" in result.output


def test_first_start_prints_token_once_and_saves_it_for_the_cli(templates: Path) -> None:
    home = make_dir("moonbase-first-")
    mb = Moonbase(home, templates)
    env = {k: v for k, v in mb.env().items() if not k.startswith("MOONBASE_ADMIN_TOKEN")}
    env.pop("MOONBASE_ORG")
    try:
        for round_ in (1, 2):
            proc = subprocess.Popen(
                [sys.executable, "-m", "moonbase.cli.main", "up"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            saved = home / "cli.json"
            wait_for(saved.exists, 60, "cli.json")
            wait_for(lambda: _answers(mb.url), 60, "the API")
            proc.terminate()
            output = proc.communicate(timeout=60)[0]
            config = json.loads(saved.read_text())
            if round_ == 1:
                assert config["token"] in output, "the first start must print the token"
                assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
                assert config["organization"] == "moonbase"
                cli_env = {**os.environ, "MOONBASE_HOME": str(home)}
                cli_env = {k: v for k, v in cli_env.items()
                           if k in ("PATH", "HOME", "MOONBASE_HOME")}  # fmt: skip
            else:
                assert config["token"] not in output, "the token is shown only once"
        # the CLI finds the saved token by itself
        proc = subprocess.Popen(
            [sys.executable, "-m", "moonbase.cli.main", "up"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for(lambda: _answers(mb.url), 60, "the API")
            result = subprocess.run(
                [sys.executable, "-m", "moonbase.cli.main", "org", "list", "--format", "json"],
                env=cli_env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)[0]["name"] == "moonbase"
        finally:
            proc.terminate()
            proc.wait(60)
    finally:
        process.kill_all_under(home)
        mb.http.close()
        shutil.rmtree(home, ignore_errors=True)


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_branch_and_credential_commands(moonbase: Moonbase) -> None:
    cli(moonbase, "database", "create", "brdb", "--kind", "postgresql", "--wait")
    created = json.loads(
        cli(moonbase, "branch", "create", "brdb", "dev", "--wait", "--format", "json")
    )
    assert created["ready"] is True and created["parent_branch"] == "main"
    names = [b["name"] for b in json.loads(cli(moonbase, "branch", "list", "brdb", "-f", "json"))]
    assert names == ["main", "dev"]
    assert "dev" in cli(moonbase, "branch", "show", "brdb", "dev")
    assert cli(moonbase, "branch", "diff", "brdb", "dev").strip() == "No changes."

    role = json.loads(cli(moonbase, "role", "create", "brdb", "dev", "--format", "json"))
    host, _, port = role["access_host_url"].rpartition(":")
    with psycopg.connect(
        host=host, port=int(port), user=role["username"], password=role["password"],
        dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute("CREATE TABLE gadgets (name text)")
    assert "gadgets" in cli(moonbase, "branch", "schema", "brdb", "dev")
    assert cli(moonbase, "branch", "diff", "brdb", "dev").splitlines() == [
        "-- gadgets --",
        "+CREATE TABLE public.gadgets (",
        "+    name text",
        "+);",
        "",
    ]
    assert "NO_UNIQUE_KEY" in cli(moonbase, "branch", "lint", "brdb", "dev")

    on = json.loads(
        cli(moonbase, "branch", "safe-migrations", "enable", "brdb", "dev", "-f", "json")
    )
    assert on["safe_migrations"] is True
    off = json.loads(
        cli(moonbase, "branch", "safe-migrations", "disable", "brdb", "dev", "-f", "json")
    )
    assert off["safe_migrations"] is False

    reset = json.loads(cli(moonbase, "role", "reset", "brdb", "dev", role["id"], "-f", "json"))
    assert reset["password"] and reset["password"] != role["password"]
    timed = json.loads(
        cli(moonbase, "role", "create", "brdb", "dev", "--ttl", "600", "--format", "json")
    )
    renewed = json.loads(cli(moonbase, "role", "renew", "brdb", "dev", timed["id"], "-f", "json"))
    assert renewed["expires_at"] >= timed["expires_at"]

    promoted = json.loads(cli(moonbase, "branch", "promote", "brdb", "dev", "-f", "json"))
    assert promoted["production"] is True
    demoted = json.loads(cli(moonbase, "branch", "demote", "brdb", "dev", "-f", "json"))
    assert demoted["production"] is False
    cli(moonbase, "role", "delete", "brdb", "dev", timed["id"])

    # moonbase shell: psql with a credential of its own, gone afterwards
    env = {**os.environ, "MOONBASE_URL": moonbase.url, "MOONBASE_ORG": "acme",
           "MOONBASE_TOKEN_ID": moonbase.env()["MOONBASE_ADMIN_TOKEN_ID"],
           "MOONBASE_TOKEN": moonbase.env()["MOONBASE_ADMIN_TOKEN"]}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "moonbase.cli.main", "shell", "brdb", "dev"],
        input="SELECT 'from the shell' AS greeting;\n", env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "from the shell" in result.stdout
    left = json.loads(cli(moonbase, "role", "list", "brdb", "dev", "--format", "json"))
    assert [r["id"] for r in left] == [role["id"]], "the shell's role must be deleted"

    cli(moonbase, "branch", "delete", "brdb", "dev", "--force")
    names = [b["name"] for b in json.loads(cli(moonbase, "branch", "list", "brdb", "-f", "json"))]
    assert names == ["main"]


def test_password_commands(moonbase: Moonbase) -> None:
    cli(moonbase, "database", "create", "pwdb", "--wait")
    pw = json.loads(
        cli(moonbase, "password", "create", "pwdb", "main", "--ttl", "600", "-f", "json")
    )
    updated = json.loads(
        cli(moonbase, "password", "update", "pwdb", "main", pw["id"], "--name", "renamed",
            "--cidrs", "127.0.0.1/32", "-f", "json")
    )  # fmt: skip
    assert updated["name"] == "renamed" and updated["cidrs"] == ["127.0.0.1/32"]
    renewed = json.loads(cli(moonbase, "password", "renew", "pwdb", "main", pw["id"], "-f", "json"))
    assert renewed["expires_at"] >= pw["expires_at"]
