"""OAuth applications and tokens through the API (spec shapes, accesses, 422s), and the
administrator's ``moonbase oauth-app`` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from oauth_support import (
    ALICE,
    APP_SCOPES,
    REDIRECT,
    Client,
    add_person,
    apps_path,
    bearer,
    exchange,
    obtain_code,
    query,
    register,
)
from typer.testing import CliRunner, Result

from moonbase.cli.main import app as cli_app
from moonbase.ids import token_hash
from moonbase.models import OAuthApplication

from api_support import (
    ORG,
    add_organization,
    assert_error,
    create_db,
    org_id,
    org_path,
    service_token,
    store,
)
from contract import assert_matches_spec


@pytest.fixture
def client(app: FastAPI) -> Client:
    add_person(app, ALICE, "admin")
    return register(app)


def create_token(api: TestClient, client: Client, **body: Any) -> Any:
    body = {"client_id": client.client_id, "client_secret": client.secret, **body}
    return api.post(apps_path(client.id, "token"), json=body)


def test_list_and_get_applications(api: TestClient, app: FastAPI, client: Client) -> None:
    listed = api.get(apps_path())
    assert listed.status_code == 200, listed.text
    assert_matches_spec("list_oauth_applications", 200, listed.json())
    [item] = listed.json()["data"]
    assert item["id"] == client.id and item["client_id"] == client.client_id
    assert item["redirect_uri"] == REDIRECT and item["domain"] == "client.example"
    assert item["scopes"].split() == list(APP_SCOPES) and item["tokens"] == 0
    assert "secret" not in json.dumps(item).lower().replace("client_secret_hash", "")
    got = api.get(apps_path(client.id))
    assert got.status_code == 200
    assert_matches_spec("get_oauth_application", 200, got.json())
    org_scopes = {s["scope"]: s["admin"] for s in got.json()["scopes_by_resource"]["organization"]}
    assert org_scopes == {"read_databases": False, "create_databases": True}
    exchange(api, client, obtain_code(api, query(client)))
    assert api.get(apps_path(client.id)).json()["tokens"] == 1
    with store(app).tx() as s:  # only the secret's hash is kept
        row = s.get(OAuthApplication, client.id)
        assert row is not None and row.client_secret_hash == token_hash(client.secret)
    assert_error(api.get(apps_path("nosuchapp000")), 404, "not_found")
    assert_error(api.get(apps_path(client.id, "tokens", "nosuchtoken0")), 404, "not_found")


def test_applications_of_another_organization_are_invisible(
    api: TestClient, app: FastAPI, client: Client
) -> None:
    _, other = add_organization(app, "globex")
    other_path = f"/v1/organizations/globex/oauth-applications/{client.id}"
    assert_error(api.get(other_path, headers=other), 404, "not_found")
    assert_error(api.get(apps_path(client.id), headers=other), 404, "not_found")


@pytest.mark.parametrize(
    ("access", "method", "path"),
    [
        ("read_oauth_applications", "GET", ()),
        ("read_oauth_applications", "GET", ("{app}",)),
        ("read_oauth_tokens", "GET", ("{app}", "tokens")),
        ("write_oauth_tokens", "POST", ("{app}", "token")),
    ],
)
def test_each_operation_needs_its_access(
    api: TestClient, app: FastAPI, client: Client, access: str, method: str, path: tuple[str, ...]
) -> None:
    url = apps_path(*(p.format(app=client.id) for p in path))
    body = {
        "client_id": client.client_id,
        "client_secret": client.secret,
        "grant_type": "refresh_token",
        "refresh_token": "x",
    }
    kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
    without = service_token(app, [("read_databases", "Organization", org_id(app))])
    assert_error(api.request(method, url, headers=without, **kwargs), 404, "not_found")
    holder = service_token(app, [(access, "Organization", org_id(app))])
    response = api.request(method, url, headers=holder, **kwargs)
    # the token call reaches the grant (and fails there: the refresh token is made up)
    assert response.status_code == (422 if method == "POST" else 200), response.text


def test_delete_needs_delete_oauth_tokens(api: TestClient, app: FastAPI, client: Client) -> None:
    exchange(api, client, obtain_code(api, query(client)))
    [tok] = api.get(apps_path(client.id, "tokens")).json()["data"]
    url = apps_path(client.id, "tokens", tok["id"])
    reader = service_token(app, [("read_oauth_tokens", "Organization", org_id(app))])
    assert_error(api.delete(url, headers=reader), 404, "not_found")
    deleter = service_token(app, [("delete_oauth_tokens", "Organization", org_id(app))])
    assert api.delete(url, headers=deleter).status_code == 204
    assert_error(api.delete(url, headers=deleter), 404, "not_found")


def test_create_oauth_token_operation(api: TestClient, app: FastAPI, client: Client) -> None:
    create_db(api, "shop")
    code = obtain_code(api, query(client))
    created = create_token(
        api, client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert_matches_spec("create_oauth_token", 200, body)
    assert body["token"].startswith("pscale_oauth_") and body["plain_text_refresh_token"]
    assert body["actor_display_name"] == "Alice"
    listed = api.get(f"{org_path()}/databases", headers=bearer(body["token"]))
    assert listed.status_code == 200, listed.text

    renewed = create_token(
        api, client, grant_type="refresh_token", refresh_token=body["plain_text_refresh_token"]
    )
    assert renewed.status_code == 200, renewed.text
    assert_matches_spec("create_oauth_token", 200, renewed.json())
    assert renewed.json()["id"] == body["id"] and renewed.json()["token"] != body["token"]
    assert_error(
        api.get(f"{org_path()}/databases", headers=bearer(body["token"])), 401, "unauthorized"
    )
    # the code is spent
    again = create_token(
        api, client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT
    )
    assert_error(again, 422, "unprocessable")


@pytest.mark.parametrize(
    "body",
    [
        {"grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT},
        {"grant_type": "authorization_code"},
        {"grant_type": "refresh_token", "refresh_token": "nope"},
        {"grant_type": "refresh_token"},
        {"grant_type": "client_credentials"},
        {"grant_type": "refresh_token", "refresh_token": "x", "client_secret": "wrong"},
        {"grant_type": "refresh_token", "refresh_token": "x", "client_secret": None},
        {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "someone-else"},
    ],
)
def test_create_oauth_token_bad_input(
    api: TestClient, client: Client, body: dict[str, Any]
) -> None:
    payload = {k: v for k, v in body.items() if v is not None}
    if "client_secret" in body and body["client_secret"] is None:
        payload = {"client_id": client.client_id, **payload}
        response = api.post(apps_path(client.id, "token"), json=payload)
    else:
        response = create_token(api, client, **payload)
    assert_error(response, 422, "unprocessable")


def test_create_oauth_token_for_another_application(
    api: TestClient, app: FastAPI, client: Client
) -> None:
    other = register(app)
    code = obtain_code(api, query(client))
    # the path's application and the client credentials must agree
    mixed = {
        "client_id": client.client_id,
        "client_secret": client.secret,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
    }
    assert_error(api.post(apps_path(other.id, "token"), json=mixed), 422, "unprocessable")
    assert_error(api.post(apps_path("nosuchapp000", "token"), json=mixed), 404, "not_found")


# --- moonbase oauth-app -------------------------------------------------------------------


def run(home: Path, *args: str) -> Result:
    env = {"MOONBASE_HOME": str(home), "MOONBASE_STORE_URL": None, "MOONBASE_ORG": None}
    return CliRunner().invoke(cli_app, ["oauth-app", *args], env=env)  # type: ignore[arg-type]


def test_cli_create_and_list(api: TestClient, app: FastAPI) -> None:
    add_person(app, ALICE, "admin")
    home = app.state.settings.home
    made = run(
        home,
        "create",
        "--org",
        ORG,
        "--name",
        "Reporting",
        "--redirect-uri",
        REDIRECT,
        "--redirect-uri",
        "http://localhost:8000/cb",
        "--scopes",
        "organization:read_databases, user:read_user",
        "--format",
        "json",
    )
    assert made.exit_code == 0, made.output
    body = json.loads(made.stdout)
    assert body["redirect_uris"] == [REDIRECT, "http://localhost:8000/cb"]
    assert body["scopes"] == "organization:read_databases user:read_user"
    assert body["token_url"].endswith("/oauth/token")
    # the printed secret is the one the token endpoint accepts
    client = Client(body["id"], body["client_id"], body["client_secret"])
    assert exchange(api, client, obtain_code(api, query(client))).status_code == 200

    listed = run(home, "list", "--org", ORG, "--format", "json")
    assert listed.exit_code == 0, listed.output
    [item] = json.loads(listed.stdout)
    assert item["client_id"] == client.client_id and item["tokens"] == 1
    assert client.secret not in listed.stdout
    # without --org (and no MOONBASE_ORG): the installation's only organization
    args = ("--name", "Second", "--redirect-uri", REDIRECT, "--scopes", "user:read_user")
    human = run(home, "create", *args)
    assert human.exit_code == 0, human.output
    assert "client_secret" in human.stdout and "registered in acme" in human.stdout
    # with a second organization, it has to be named
    add_organization(app, "globex")
    assert "choose one with --org" in run(home, "create", *args).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--redirect-uri", "http://client.example/cb", "--scopes", "user:read_user"), "https"),
        (("--redirect-uri", REDIRECT, "--scopes", "read_everything"), "Unknown scopes"),
        (
            ("--redirect-uri", "https://client.example/cb#x", "--scopes", "user:read_user"),
            "fragment",
        ),
        (("--redirect-uri", REDIRECT, "--scopes", "user:read_user", "--org", "nope"), "not found"),
    ],
)
def test_cli_create_refuses_bad_input(app: FastAPI, args: tuple[str, ...], message: str) -> None:
    result = run(app.state.settings.home, "create", "--org", ORG, "--name", "X", *args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    listed = run(app.state.settings.home, "list", "--org", ORG, "--format", "json")
    assert json.loads(listed.stdout) == []


def test_cli_without_an_installation(tmp_path: Path) -> None:
    result = run(tmp_path, "list")
    assert result.exit_code == 2 and "No Moonbase installation" in result.output
