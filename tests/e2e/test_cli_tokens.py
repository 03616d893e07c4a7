"""``moonbase service-token`` against a running installation (``moonbase up`` as a process)."""

from __future__ import annotations

import json

import httpx
from typer.testing import CliRunner

from moonbase.cli.main import app

from harness import Moonbase


def run(moonbase: Moonbase, *args: str, token: tuple[str, str] | None = None) -> tuple[int, str]:
    token_id, secret = token or (
        moonbase.env()["MOONBASE_ADMIN_TOKEN_ID"],
        moonbase.env()["MOONBASE_ADMIN_TOKEN"],
    )
    env = {"MOONBASE_URL": moonbase.url, "MOONBASE_ORG": "acme",
           "MOONBASE_TOKEN_ID": token_id, "MOONBASE_TOKEN": secret}  # fmt: skip
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def cli(moonbase: Moonbase, *args: str, token: tuple[str, str] | None = None) -> str:
    code, output = run(moonbase, *args, token=token)
    assert code == 0, f"moonbase {' '.join(args)} failed:\n{output}"
    return output


def test_service_token_commands(moonbase: Moonbase) -> None:
    moonbase.create_database("tokdb", "postgresql")  # grants need the database, not its servers
    made = json.loads(cli(moonbase, "service-token", "create", "--name", "ci", "--format", "json"))
    token_id, secret = made["id"], made["token"]
    assert secret.startswith("pscale_tkn_") and made["name"] == "ci"
    as_token = httpx.Client(
        base_url=f"{moonbase.url}/v1", headers={"Authorization": f"{token_id}:{secret}"}
    )
    try:
        listed = json.loads(cli(moonbase, "service-token", "list", "--format", "json"))
        assert token_id in [t["id"] for t in listed]
        assert all(t["token"] is None for t in listed)
        assert as_token.get("/organizations/acme/databases/tokdb").status_code == 404

        # pscale's order: the token, then the accesses, then --database
        cli(moonbase, "service-token", "add-access", token_id, "read_organization")
        out = cli(moonbase, "service-token", "add-access", token_id, "read_database",
                  "read_branch", "--database", "tokdb")  # fmt: skip
        assert "tokdb" in out and "read_branch" in out
        shown = json.loads(
            cli(moonbase, "service-token", "show-access", token_id, "--format", "json")
        )
        assert {(a["access"], a["resource_name"]) for a in shown} == {
            ("read_organization", "acme"), ("read_database", "tokdb"), ("read_branch", "tokdb"),
        }  # fmt: skip
        human = cli(moonbase, "service-token", "show-access", token_id)
        assert "organization-wide" in human and "tokdb" in human
        assert as_token.get("/organizations/acme/databases/tokdb").status_code == 200
        # the new token drives the CLI too, seeing only what it holds
        names = json.loads(cli(moonbase, "database", "list", "--format", "json",
                               token=(token_id, secret)))  # fmt: skip
        assert [d["name"] for d in names] == ["tokdb"]

        code, output = run(moonbase, "service-token", "add-access", token_id, "read_everything")
        assert code == 1 and "read_everything" in output and "read_branch" in output
        # it cannot hand out what it does not hold (nor does it hold write_service_tokens)
        code, output = run(moonbase, "service-token", "add-access", token_id, "create_databases",
                           token=(token_id, secret))  # fmt: skip
        assert code == 1 and "not_found" in output

        cli(moonbase, "service-token", "delete-access", token_id, "read_database", "read_branch",
            "--database", "tokdb")  # fmt: skip
        assert as_token.get("/organizations/acme/databases/tokdb").status_code == 404
        remaining = json.loads(
            cli(moonbase, "service-token", "show-access", token_id, "--format", "json")
        )
        assert [a["access"] for a in remaining] == ["read_organization"]

        cli(moonbase, "service-token", "delete", token_id, "--force")
        assert as_token.get("/organizations/acme").status_code == 401
        listed = json.loads(cli(moonbase, "service-token", "list", "--format", "json"))
        assert token_id not in [t["id"] for t in listed]
        code, output = run(moonbase, "service-token", "delete", token_id, "--force")
        assert code == 1 and "not_found" in output
    finally:
        as_token.close()
