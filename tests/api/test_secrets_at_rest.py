"""Secrets are stored only as hashes or verifiers and never reach a log or an error message.

One installation (fake provisioner) hands out every kind of secret the API has: the admin
token, a service token, MySQL passwords, PostgreSQL role passwords (created and reset), and,
where those features are there, an OAuth client secret, access and refresh tokens and a
user's sign-in password. Then the store's files and everything logged at DEBUG (SQLAlchemy
logs every statement with its parameters at that level) are searched for each plaintext.

Webhook secrets are the exception, on purpose: they are the key that signs each delivery, so
they are stored as given (models/webhook.py); the test uses one as proof that the search of
the store finds a secret that is there.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from secret_scan import found_in, leaks, store_files
from sqlalchemy import text

from moonbase.ids import token_hash

from api_support import (
    ADMIN_ID,
    ADMIN_SECRET,
    branch_path,
    db_path,
    implemented_operations,
    installation,
    org_id,
    org_path,
    ready_db,
    service_token,
    store,
)

PLANTED = "planted-canary-7f3a9c2e1b"


def _service_token(api: TestClient, app: FastAPI) -> tuple[str, dict[str, str]]:
    """A service token through the API when it has the endpoint, else as the API stores one."""
    if "create_service_token" not in implemented_operations(app):
        headers = service_token(app, [("read_organization", "Organization", org_id(app))])
        return headers["Authorization"].partition(":")[2], headers
    made = api.post(f"{org_path()}/service-tokens", json={"name": "ci"})
    assert made.status_code == 200, made.text
    token = made.json()
    granted = api.post(f"{org_path()}/service-tokens/{token['id']}/access",
                       json={"access": ["read_organization"]})  # fmt: skip
    assert granted.status_code == 200, granted.text
    return token["token"], {"Authorization": f"{token['id']}:{token['token']}"}


def _credentials(api: TestClient) -> dict[str, str]:
    ready_db(api, "shop")
    ready_db(api, "pg", kind="postgresql")
    found: dict[str, str] = {}
    response = api.post(f"{branch_path('shop')}/passwords", json={"name": "app"})
    assert response.status_code == 201, response.text
    found["mysql password"] = response.json()["plain_text"]
    roles = f"{branch_path('pg')}/roles"
    response = api.post(roles, json={"name": "app", "inherited_roles": ["postgres"]})
    assert response.status_code == 200, response.text
    role = response.json()
    found["role password"] = role["password"]
    response = api.post(f"{roles}/{role['id']}/reset")
    assert response.status_code == 200, response.text
    found["reset role password"] = response.json()["password"]
    response = api.post(f"{roles}/reset-default")
    assert response.status_code == 200, response.text
    found["default role password"] = response.json()["password"]
    return found


def _oauth(api: TestClient, app: FastAPI) -> dict[str, str]:
    """Client secret, codes' tokens and a user's password."""
    import oauth_support as oa

    client = oa.register(app)
    oa.add_person(app, oa.ALICE, "admin")
    code = oa.obtain_code(api, oa.query(client))
    response = oa.exchange(api, client, code)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert api.get(org_path(), headers=oa.bearer(tokens["access_token"])).status_code in (200, 404)
    found = {"client secret": client.secret, "access token": tokens["access_token"],
             "user password": oa.PASSWORD}  # fmt: skip
    found["refresh token"] = tokens["refresh_token"]
    return found


def _webhook_secret(api: TestClient, app: FastAPI) -> str:
    response = api.post(f"{db_path('shop')}/webhooks", json={"url": "https://hooks.example.com/x"})
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


def _refusals_keep_quiet(api: TestClient, secrets: dict[str, str]) -> list[str]:
    """Error answers to wrong or misplaced secrets do not repeat them."""
    answers = []
    for secret in secrets.values():
        for headers in ({"Authorization": f"{ADMIN_ID}:{secret}"},
                        {"Authorization": f"Bearer {secret}"},
                        {"Authorization": secret}):  # fmt: skip
            answers.append(api.get(org_path(), headers=headers).text)
        answers.append(api.post(f"{org_path()}/databases", json={"name": secret}).text)
        answers.append(api.patch(org_path(), json={"billing_email": [secret]}).text)
    return [f"error answer {i}" for i, a in enumerate(answers) if any(found_in(s, a.encode())
            for s in secrets.values())]  # fmt: skip


def _logged(caplog: pytest.LogCaptureFixture) -> bytes:
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join([caplog.text, *lines]).encode()


def test_no_plaintext_secret_in_the_store_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # it sets itself to WARNING
    secrets: dict[str, str] = {"admin token": ADMIN_SECRET}
    with installation() as (api, _fake):
        app: FastAPI = api.app  # type: ignore[assignment]
        home = app.state.settings.home
        secrets["service token"], headers = _service_token(api, app)
        assert api.get(org_path(), headers=headers).status_code == 200, "the token works"
        secrets.update(_credentials(api))
        secrets.update(_oauth(api, app))
        webhook_secret = _webhook_secret(api, app)
        assert len(set(secrets.values())) == len(secrets), "every secret is a different one"
        assert not _refusals_keep_quiet(api, secrets)

        with store(app).tx() as s:
            assert s.execute(text("PRAGMA encoding")).scalar() == "UTF-8"
        files = store_files(home)
        assert not leaks(secrets, files)
        stored = b"".join(files.values())
        # the search reads what the store holds: hashes of the tokens are there ...
        assert token_hash(ADMIN_SECRET).encode() in stored
        assert token_hash(secrets["service token"]).encode() in stored
        # ... and a value the API stores as given is found
        assert api.patch(org_path(), json={"billing_email": f"{PLANTED}@example.com"}).is_success
        assert found_in(webhook_secret, b"".join(store_files(home).values()))
        assert found_in(PLANTED, b"".join(store_files(home).values()))

    logged = _logged(caplog)
    assert b"INSERT INTO" in logged, "DEBUG logging of the store was on for the whole run"
    assert not leaks(secrets, {"the logs": logged})
    logging.getLogger("moonbase.test").warning("a line that leaks %s", PLANTED)
    assert found_in(PLANTED, _logged(caplog)), "the log search finds a leak"


def test_the_search_finds_every_encoding() -> None:
    secret = "pscale_pw_Abc123xyz"
    for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
        assert found_in(secret, b"\x00junk" + secret.encode(encoding) + b"junk")
    assert not found_in(secret, b"pscale_pw_Abc123xy")
    sources: dict[str, Any] = {"a": b"x" + secret.encode() + b"y", "b": b"nothing"}
    assert leaks({"pw": secret}, sources) == ["pw in a"]
