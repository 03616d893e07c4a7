"""The OAuth authorization-code flow end to end, and the ways it must refuse."""

from __future__ import annotations

import base64
from datetime import timedelta
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
    consent_page,
    decide,
    exchange,
    location_params,
    oauth_error,
    obtain_code,
    query,
    register,
    s256,
    token,
)
from sqlalchemy import select, update

from moonbase.ids import token_hash, utcnow
from moonbase.models import OAuthAuthorizationCode, OAuthToken

from api_support import assert_error, create_db, org_path, store
from contract import assert_matches_spec


@pytest.fixture
def client(app: FastAPI) -> Client:
    add_person(app, ALICE, "admin")
    return register(app)


def test_the_flow_end_to_end(api: TestClient, app: FastAPI, client: Client) -> None:
    create_db(api, "shop")
    q = query(client, "organization:read_databases user:read_user")

    # not signed in: the sign-in form, and a session cookie fit for it
    page = api.get(f"/oauth/authorize?{q}", follow_redirects=False)
    assert page.status_code == 200 and "Sign in" in page.text
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/oauth" in cookie
    assert page.headers["x-frame-options"] == "DENY"

    # signed in: the consent page names the organization and each scope
    consent = consent_page(api, q)
    assert consent.status_code == 200, consent.text
    for text in ("acme", "Acme Dashboard", "organization:read_databases", "user:read_user"):
        assert text in consent.text
    assert "organization:create_databases" not in consent.text  # allowed, but not asked for

    params = location_params(decide(api, consent))
    assert params["state"] == "st4te" and params["code"]

    issued = exchange(api, client, params["code"])
    assert issued.status_code == 200, issued.text
    assert issued.headers["cache-control"] == "no-store"
    body = issued.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 2592000
    assert body["scope"] == "organization:read_databases user:read_user"
    with store(app).tx() as s:  # only hashes are kept
        row = s.scalar(select(OAuthToken).where(OAuthToken.application_id == client.id))
        assert row is not None and row.token_hash == token_hash(body["access_token"])
        assert row.refresh_token_hash == token_hash(body["refresh_token"])

    # a scope it holds works; one it does not is not found, as on PlanetScale
    listed = api.get(f"{org_path()}/databases", headers=bearer(body["access_token"]))
    assert listed.status_code == 200, listed.text
    assert [d["name"] for d in listed.json()["data"]] == ["shop"]
    refused = api.post(
        f"{org_path()}/databases",
        json={"name": "other", "cluster_size": "PS_10"},
        headers=bearer(body["access_token"]),
    )
    assert_error(refused, 404, "not_found")

    # refresh: new tokens; the old refresh token and the old access token stop working
    renewed = token(api, client, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    fresh = renewed.json()
    assert fresh["refresh_token"] != body["refresh_token"]
    assert fresh["access_token"] != body["access_token"]
    oauth_error(
        token(api, client, grant_type="refresh_token", refresh_token=body["refresh_token"]),
        400,
        "invalid_grant",
    )
    assert_error(
        api.get(f"{org_path()}/databases", headers=bearer(body["access_token"])),
        401,
        "unauthorized",
    )
    assert api.get(f"{org_path()}/databases", headers=bearer(fresh["access_token"])).is_success

    # the application's tokens, through the API (spec shapes)
    tokens = api.get(apps_path(client.id, "tokens"))
    assert tokens.status_code == 200, tokens.text
    assert_matches_spec("list_oauth_tokens", 200, tokens.json())
    [listed_token] = tokens.json()["data"]
    assert listed_token["actor_type"] == "User" and listed_token["actor_display_name"] == "Alice"
    assert "token" not in listed_token and "plain_text_refresh_token" not in listed_token
    accesses = listed_token["oauth_accesses_by_resource"]
    assert accesses["organization"]["accesses"][0]["name"] == "read_databases"
    assert [d["name"] for d in accesses["database"]["databases"]] == ["shop"]
    one = api.get(apps_path(client.id, "tokens", listed_token["id"]))
    assert_matches_spec("get_oauth_token", 200, one.json())

    # revoke: the access token is refused at once, and so is its refresh token
    revoked = api.delete(apps_path(client.id, "tokens", listed_token["id"]))
    assert revoked.status_code == 204 and revoked.content == b""
    assert_matches_spec("delete_oauth_token", 204, None)
    assert_error(
        api.get(f"{org_path()}/databases", headers=bearer(fresh["access_token"])),
        401,
        "unauthorized",
    )
    oauth_error(
        token(api, client, grant_type="refresh_token", refresh_token=fresh["refresh_token"]),
        400,
        "invalid_grant",
    )
    assert_error(api.get(apps_path(client.id, "tokens", listed_token["id"])), 404, "not_found")


def test_an_expired_access_token_is_refused_and_can_be_refreshed(
    api: TestClient, app: FastAPI, client: Client
) -> None:
    body = exchange(api, client, obtain_code(api, query(client))).json()
    with store(app).tx() as s:
        s.execute(
            update(OAuthToken)
            .where(OAuthToken.application_id == client.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert_error(
        api.get(f"{org_path()}/databases", headers=bearer(body["access_token"])),
        401,
        "unauthorized",
    )
    renewed = token(api, client, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert api.get(
        f"{org_path()}/databases", headers=bearer(renewed.json()["access_token"])
    ).is_success


def test_wrong_client_secret(api: TestClient, client: Client) -> None:
    code = obtain_code(api, query(client))
    wrong = Client(client.id, client.client_id, client.secret + "x")
    oauth_error(exchange(api, wrong, code), 401, "invalid_client")
    unknown = Client(client.id, "nobody", client.secret)
    oauth_error(exchange(api, unknown, code), 401, "invalid_client")
    oauth_error(token(api, grant_type="authorization_code", code=code), 401, "invalid_client")
    # the code was not spent by the failed attempts
    assert exchange(api, client, code).status_code == 200


def test_client_secret_basic(api: TestClient, client: Client) -> None:
    code = obtain_code(api, query(client))
    basic = base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    response = api.post("/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200, response.text
    wrong = base64.b64encode(f"{client.client_id}:nope".encode()).decode()
    refused = api.post("/oauth/token", data=form, headers={"Authorization": f"Basic {wrong}"})
    oauth_error(refused, 401, "invalid_client")
    assert refused.headers["www-authenticate"].startswith("Basic")


def test_wrong_redirect_uri(api: TestClient, app: FastAPI, client: Client) -> None:
    # at the authorization endpoint: an error page, never a redirect to the unknown URI
    for uri in ("https://evil.example/callback", REDIRECT + "/", REDIRECT + "?x=1"):
        page = api.get(
            f"/oauth/authorize?{query(client, redirect_uri=uri)}", follow_redirects=False
        )
        assert page.status_code == 400, page.text
        assert "location" not in page.headers
    # at the token endpoint: the code is bound to the redirect URI it was issued for
    code = obtain_code(api, query(client))
    oauth_error(
        exchange(api, client, code, redirect_uri="https://evil.example/callback"),
        400,
        "invalid_grant",
    )
    oauth_error(
        token(api, client, grant_type="authorization_code", code=code), 400, "invalid_request"
    )


def test_unknown_client_id_gets_an_error_page(api: TestClient, client: Client) -> None:
    bad = Client(client.id, "nobody", client.secret)
    page = api.get(f"/oauth/authorize?{query(bad)}", follow_redirects=False)
    assert page.status_code == 400 and "location" not in page.headers


def test_reused_code_is_refused_and_revokes_its_token(api: TestClient, client: Client) -> None:
    code = obtain_code(api, query(client))
    first = exchange(api, client, code)
    assert first.status_code == 200
    oauth_error(exchange(api, client, code), 400, "invalid_grant")
    assert_error(
        api.get(f"{org_path()}/databases", headers=bearer(first.json()["access_token"])),
        401,
        "unauthorized",
    )


def test_expired_code(api: TestClient, app: FastAPI, client: Client) -> None:
    code = obtain_code(api, query(client))
    with store(app).tx() as s:
        row = s.scalar(
            select(OAuthAuthorizationCode).where(
                OAuthAuthorizationCode.code_hash == token_hash(code)
            )
        )
        assert row is not None
        assert timedelta(minutes=9) < row.expires_at - utcnow() <= timedelta(minutes=10)
        row.expires_at = utcnow() - timedelta(seconds=1)
    oauth_error(exchange(api, client, code), 400, "invalid_grant")


def test_code_of_another_application(api: TestClient, app: FastAPI, client: Client) -> None:
    other = register(app)
    code = obtain_code(api, query(client))
    oauth_error(exchange(api, other, code), 400, "invalid_grant")


def test_scope_not_allowed(api: TestClient, client: Client) -> None:
    q = query(client, "organization:read_databases organization:delete_databases")
    params = location_params(api.get(f"/oauth/authorize?{q}", follow_redirects=False))
    assert params["error"] == "invalid_scope" and params["state"] == "st4te"
    assert "code" not in params
    unknown = location_params(
        api.get(f"/oauth/authorize?{query(client, 'read_everything')}", follow_redirects=False)
    )
    assert unknown["error"] == "invalid_scope"


def test_no_scope_asks_for_everything_the_application_may(api: TestClient, client: Client) -> None:
    body = exchange(api, client, obtain_code(api, query(client, scope=None))).json()
    assert body["scope"].split() == list(APP_SCOPES)


def test_response_type_must_be_code(api: TestClient, client: Client) -> None:
    q = query(client, response_type="token")
    params = location_params(api.get(f"/oauth/authorize?{q}", follow_redirects=False))
    assert params["error"] == "unsupported_response_type"


def test_pkce(api: TestClient, client: Client) -> None:
    verifier = "v" * 20 + "-._~" + "a1B2" * 6
    q = query(client, code_challenge=s256(verifier), code_challenge_method="S256")
    code = obtain_code(api, q)
    oauth_error(exchange(api, client, code), 400, "invalid_grant")
    oauth_error(exchange(api, client, code, code_verifier=verifier + "x"), 400, "invalid_grant")
    assert exchange(api, client, code, code_verifier=verifier).status_code == 200
    # plain is not offered; a verifier without a challenge is refused
    plain = query(client, code_challenge=verifier, code_challenge_method="plain")
    assert (
        location_params(api.get(f"/oauth/authorize?{plain}", follow_redirects=False))["error"]
        == "invalid_request"
    )
    code = obtain_code(api, query(client))
    oauth_error(exchange(api, client, code, code_verifier=verifier), 400, "invalid_grant")


def test_refresh_with_fewer_scopes(api: TestClient, client: Client) -> None:
    create_db(api, "shop")
    q = query(client, "organization:read_databases user:read_user")
    body = exchange(api, client, obtain_code(api, q)).json()
    more = token(
        api,
        client,
        grant_type="refresh_token",
        refresh_token=body["refresh_token"],
        scope="organization:create_databases",
    )
    oauth_error(more, 400, "invalid_scope")
    fewer = token(
        api,
        client,
        grant_type="refresh_token",
        refresh_token=body["refresh_token"],
        scope="user:read_user",
    )
    assert fewer.status_code == 200 and fewer.json()["scope"] == "user:read_user"
    denied = api.get(f"{org_path()}/databases", headers=bearer(fewer.json()["access_token"]))
    assert_error(denied, 404, "not_found")


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({}, 400, "invalid_request"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, 400, "invalid_grant"),
        (
            {"grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT},
            400,
            "invalid_grant",
        ),
    ],
)
def test_token_endpoint_errors(
    api: TestClient, client: Client, form: dict[str, str], status: int, error: str
) -> None:
    oauth_error(token(api, client, **form), status, error)


def test_token_endpoint_takes_only_forms(api: TestClient, client: Client) -> None:
    body = {
        "client_id": client.client_id,
        "client_secret": client.secret,
        "grant_type": "refresh_token",
        "refresh_token": "x",
    }
    oauth_error(api.post("/oauth/token", json=body), 400, "invalid_request")
    repeated = "grant_type=refresh_token&grant_type=authorization_code"
    response = api.post(
        "/oauth/token",
        content=repeated,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    oauth_error(response, 400, "invalid_request")


def revoke(api: TestClient, client: Client, value: str, **extra: str) -> Any:
    form = {"client_id": client.client_id, "client_secret": client.secret, "token": value}
    return api.post("/oauth/revoke", data={**form, **extra})


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_revocation_rfc_7009(api: TestClient, app: FastAPI, client: Client, which: str) -> None:
    create_db(api, "shop")
    body = exchange(api, client, obtain_code(api, query(client))).json()
    databases = f"{org_path()}/databases"
    assert api.get(databases, headers=bearer(body["access_token"])).status_code == 200

    done = revoke(api, client, body[which], token_type_hint=which)
    assert done.status_code == 200 and done.content == b""
    assert done.headers["cache-control"] == "no-store"
    # either token revokes both
    assert_error(api.get(databases, headers=bearer(body["access_token"])), 401, "unauthorized")
    again = token(api, client, grant_type="refresh_token", refresh_token=body["refresh_token"])
    oauth_error(again, 400, "invalid_grant")
    # revoking what is already gone (or never was) is not an error
    assert revoke(api, client, body[which]).status_code == 200
    assert revoke(api, client, "pscale_oauth_nothing_like_it").status_code == 200


def test_revocation_refusals(api: TestClient, app: FastAPI, client: Client) -> None:
    create_db(api, "shop")
    body = exchange(api, client, obtain_code(api, query(client))).json()
    other = register(app)
    stranger = revoke(api, other, body["access_token"])
    oauth_error(stranger, 400, "unauthorized_client")
    wrong = Client(client.id, client.client_id, "not-the-secret")
    oauth_error(revoke(api, wrong, body["access_token"]), 401, "invalid_client")
    oauth_error(api.post("/oauth/revoke", data={"token": "x"}), 401, "invalid_client")
    form = {"client_id": client.client_id, "client_secret": client.secret}
    oauth_error(api.post("/oauth/revoke", data=form), 400, "invalid_request")
    oauth_error(api.post("/oauth/revoke", json={**form, "token": "x"}), 400, "invalid_request")
    # none of that revoked anything
    databases = f"{org_path()}/databases"
    assert api.get(databases, headers=bearer(body["access_token"])).status_code == 200
