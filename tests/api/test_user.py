"""``GET /v1/user``: the user an OAuth token was issued to; nobody for other tokens."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from moonbase.ids import utcnow
from moonbase.models import OAuthToken

from api_support import (
    add_organization,
    assert_error,
    oauth_token,
    org_id,
    org_path,
    service_token,
    store,
)
from contract import assert_matches_spec
from people_support import add_user, admin_user_id, user_token

USER = "/v1/user"


def test_the_user_of_an_oauth_token(api: TestClient, app: FastAPI) -> None:
    ada = add_user(app, "ada@example.com")
    for scopes in (["user:read_user"], ["read_user"]):  # granular, and the legacy scope
        response = api.get(USER, headers=user_token(app, ada, scopes))
        assert response.status_code == 200, response.text
        body = response.json()
        assert_matches_spec("get_current_user", 200, body)
        assert (body["id"], body["email"], body["name"]) == (ada, "ada@example.com", "Ada")
        assert body["default_organization"]["id"] == org_id(app)
        assert body["two_factor_auth_configured"] is False

    admin = api.get(USER, headers=user_token(app, admin_user_id(app), ["user:read_user"]))
    assert admin.json()["email"] == "admin@localhost"


def test_no_user_without_the_scope_or_a_person(api: TestClient, app: FastAPI) -> None:
    ada = add_user(app, "ada@example.com")
    for headers in (
        user_token(app, ada, ["organization:read_organization"]),  # lacks user:read_user
        user_token(app, None, ["user:read_user"]),  # issued to nobody
        oauth_token(app, ["read_user"]),
        service_token(app, [("read_organization", "Organization", org_id(app))]),
        dict(api.headers),  # the admin service token: tokens belong to the organization
    ):
        response = api.get(USER, headers=headers)
        assert_error(response, 404, "not_found")
        assert_matches_spec("get_current_user", 404, response.json())
    assert_error(api.get(USER, headers={"Authorization": ""}), 401, "unauthorized")
    assert_error(api.get(USER, headers={"Authorization": "Bearer nope"}), 401, "unauthorized")


def test_expired_token(api: TestClient, app: FastAPI) -> None:
    ada = add_user(app, "ada@example.com")
    headers = user_token(app, ada, ["user:read_user"])
    assert api.get(USER, headers=headers).status_code == 200
    with store(app).tx() as s:
        s.execute(update(OAuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_error(api.get(USER, headers=headers), 401, "unauthorized")


def test_the_organization_of_the_token_is_the_default(api: TestClient, app: FastAPI) -> None:
    """A user in two organizations: each token shows its own, never the other."""
    globex, _ = add_organization(app, "globex")
    ada = add_user(app, "ada@example.com")
    add_user(app, "ada@example.com", organization_id=globex)
    here = api.get(USER, headers=user_token(app, ada, ["read_user"])).json()
    there = api.get(
        USER, headers=user_token(app, ada, ["read_user"], organization_id=globex)
    ).json()
    assert here["default_organization"]["name"] == "acme"
    assert there["default_organization"]["name"] == "globex"
    assert here["id"] == there["id"] == ada


def test_a_removed_member_has_no_user_here(api: TestClient, app: FastAPI) -> None:
    ada = add_user(app, "ada@example.com")
    headers = user_token(app, ada, ["read_user"])
    assert api.get(USER, headers=headers).status_code == 200
    assert api.delete(f"{org_path()}/members/{ada}").status_code == 204
    assert_error(api.get(USER, headers=headers), 401, "unauthorized")  # revoked
