"""The consent pages: who may sign in and consent, CSRF, the session cookie, and choosing a
database."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from oauth_support import (
    ALICE,
    BOB,
    CAROL,
    Client,
    add_person,
    bearer,
    consent_page,
    decide,
    exchange,
    hidden,
    location_params,
    obtain_code,
    query,
    register,
    sign_in,
)

from api_support import create_db, db_id, installation, org_path


@pytest.fixture
def client(app: FastAPI) -> Client:
    add_person(app, ALICE, "admin")
    return register(app)


def test_deny(api: TestClient, client: Client) -> None:
    params = location_params(decide(api, consent_page(api, query(client)), "deny"))
    assert params == {
        "error": "access_denied",
        "error_description": "The user denied access",
        "state": "st4te",
    }


def test_wrong_password_and_unknown_user(api: TestClient, client: Client) -> None:
    for email, password in ((ALICE, "wrong"), ("nobody@example.com", "whatever")):
        page = sign_in(api, query(client), email, password)
        assert page.status_code == 401 and "Wrong email or password" in page.text
        assert "set-cookie" not in page.headers


def test_forms_need_their_csrf_token(api: TestClient, client: Client) -> None:
    q = query(client)
    page = api.get(f"/oauth/authorize?{q}", follow_redirects=False)
    form = {**hidden(page.text), "email": ALICE, "password": "correct horse battery staple"}
    for bad in (
        {**form, "csrf_token": "forged"},
        {k: v for k, v in form.items() if k != "csrf_token"},
    ):
        refused = api.post("/oauth/sign-in", data=bad, follow_redirects=False)
        assert refused.status_code == 403 and "location" not in refused.headers
    consent = consent_page(api, q)
    forged = {**hidden(consent.text), "csrf_token": "forged", "decision": "approve"}
    refused = api.post("/oauth/authorize", data=forged, follow_redirects=False)
    assert refused.status_code == 403 and "location" not in refused.headers
    # a token from before signing in is no good after it (the session changed)
    stale = {**hidden(page.text), "decision": "approve"}
    assert api.post("/oauth/authorize", data=stale, follow_redirects=False).status_code == 403


def test_a_forged_session_cookie_is_ignored(api: TestClient, app: FastAPI, client: Client) -> None:
    consent_page(api, query(client))
    real = api.cookies.get("moonbase_oauth")
    assert real
    payload, signature = real.rsplit(".", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["u"] = add_person(app, BOB, "admin")  # someone else, under the old signature
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    api.cookies.clear()
    api.cookies.set("moonbase_oauth", f"{forged}.{signature}")
    page = api.get(f"/oauth/authorize?{query(client)}", follow_redirects=False)
    assert 'action="/oauth/sign-in"' in page.text and "Signed in as" not in page.text


def test_sign_out(api: TestClient, client: Client) -> None:
    q = query(client)
    consent = consent_page(api, q)
    out = api.post("/oauth/sign-out", data=hidden(consent.text), follow_redirects=False)
    assert out.status_code == 303
    page = api.get(out.headers["location"], follow_redirects=False)
    assert 'action="/oauth/sign-in"' in page.text


def test_who_may_consent(api: TestClient, app: FastAPI, client: Client) -> None:
    add_person(app, BOB, "member")
    add_person(app, CAROL, None)
    # not a member of the organization: no Allow button, and approving anyway is refused
    page = consent_page(api, query(client), CAROL)
    assert page.status_code == 403 and 'value="approve"' not in page.text
    assert "not a member" in page.text
    refused = decide(api, page)
    assert refused.status_code == 403 and "location" not in refused.headers
    # a member may grant reading, not creating databases (administrators only)
    api.cookies.clear()
    q = query(client, "organization:create_databases")
    page = consent_page(api, q, BOB)
    assert page.status_code == 403 and "Only administrators" in page.text
    assert exchange(api, client, obtain_code(api, query(client), BOB)).status_code == 200


def test_token_to_one_database(api: TestClient, app: FastAPI, client: Client) -> None:
    create_db(api, "shop")
    create_db(api, "blog")
    q = query(client, "organization:read_databases database:read_database")
    code = obtain_code(api, q, database=db_id(app, "shop"))
    access = exchange(api, client, code).json()["access_token"]
    shop = api.get(f"{org_path()}/databases/shop", headers=bearer(access))
    assert shop.status_code == 200
    # organization:read_databases is not narrowed; list_databases shows the one database
    listed = api.get(f"{org_path()}/databases", headers=bearer(access)).json()["data"]
    assert [d["name"] for d in listed] == ["shop"]


def test_the_session_key_is_kept_private(api: TestClient, app: FastAPI, client: Client) -> None:
    api.get(f"/oauth/authorize?{query(client)}", follow_redirects=False)
    key = app.state.settings.home / "oauth-session.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32


def test_cookie_is_secure_behind_https_and_signed_with_the_configured_secret() -> None:
    with installation(public_url="https://moonbase.example", oauth_session_secret="s3cret") as (
        api,
        _fake,
    ):
        app: FastAPI = api.app  # type: ignore[assignment]
        add_person(app, ALICE, "admin")
        client = register(app)
        page = api.get(f"/oauth/authorize?{query(client)}", follow_redirects=False)
        assert "secure" in page.headers["set-cookie"].lower()
        assert not (app.state.settings.home / "oauth-session.key").exists()
