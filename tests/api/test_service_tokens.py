"""Service tokens: the spec's endpoints, pscale's access endpoints, and what a token may do."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moonbase.api.access import DATABASE_ACCESSES, ORG_ACCESSES
from moonbase.ids import token_hash, utcnow
from moonbase.models import ServiceToken, ServiceTokenAccess
from moonbase.resources.service_tokens.schemas import DESCRIPTIONS

from api_support import (
    ADMIN_ID,
    ID_RE,
    TIMESTAMP_RE,
    add_organization,
    assert_error,
    create_db,
    db_id,
    db_path,
    oauth_token,
    org_path,
    store,
    wait_until,
)
from contract import assert_matches_spec

TOKENS = f"{org_path()}/service-tokens"


def _ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def create_token(api: TestClient, headers: dict[str, str] | None = None, **body: Any) -> Any:
    response = api.post(TOKENS, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert_matches_spec("create_service_token", 200, response.json())
    return response.json()


def auth(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"{token['id']}:{token['token']}"}


def grant(
    api: TestClient,
    token_id: str,
    *accesses: str,
    database: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    body: dict[str, Any] = {"access": list(accesses)}
    if database is not None:
        body["database"] = database
    return api.post(f"{TOKENS}/{token_id}/access", json=body, headers=headers)


def revoke(api: TestClient, token_id: str, *accesses: str, database: str | None = None) -> Any:
    body: dict[str, Any] = {"access": list(accesses), "database": database or ""}
    return api.request("DELETE", f"{TOKENS}/{token_id}/access", json=body)


def held(api: TestClient, token_id: str) -> set[tuple[str, str]]:
    """(access, resource name) pairs the token holds, read through the API."""
    response = api.get(f"{TOKENS}/{token_id}/access")
    assert response.status_code == 200, response.text
    return {(a["access"], a["resource_name"]) for a in response.json()["data"]}


def token_count(app: FastAPI) -> tuple[int, int]:
    with store(app).tx() as s:
        return (
            s.scalar(select(func.count()).select_from(ServiceToken)) or 0,
            s.scalar(select(func.count()).select_from(ServiceTokenAccess)) or 0,
        )


# --- the spec's four operations --------------------------------------------------------------


def test_create_list_get_delete(api: TestClient) -> None:
    before = utcnow()  # naive UTC, as the store keeps times
    created = create_token(api, name="ci", ttl=3600)
    assert ID_RE.match(created["id"])
    assert created["token"].startswith("pscale_tkn_") and len(created["token"]) > 40
    assert created["name"] == "ci" and created["display_name"] == "ci"
    assert created["type"] == "ServiceToken"
    assert created["actor_id"] == ADMIN_ID and created["actor_type"] == "ServiceToken"
    assert created["actor_display_name"] == "admin"
    assert created["service_token_accesses"] == [] and created["last_used_at"] is None
    assert TIMESTAMP_RE.match(created["expires_at"])
    expires = _ts(created["expires_at"])
    assert before + timedelta(seconds=3599) <= expires <= utcnow() + timedelta(hours=1)

    listed = api.get(TOKENS).json()
    assert_matches_spec("list_service_tokens", 200, listed)
    assert {t["id"] for t in listed["data"]} == {ADMIN_ID, created["id"]}
    assert all(t["token"] is None for t in listed["data"]), "a plaintext is shown only once"
    assert listed["total_count"] == 2
    page = api.get(TOKENS, params={"per_page": 1, "page": 2}).json()
    assert_matches_spec("list_service_tokens", 200, page)
    assert [t["id"] for t in page["data"]] == [created["id"]] and page["next_page"] is None

    got = api.get(f"{TOKENS}/{created['id']}")
    assert got.status_code == 200
    assert_matches_spec("get_service_token", 200, got.json())
    assert got.json()["token"] is None and got.json()["expires_at"] == created["expires_at"]
    admin = api.get(f"{TOKENS}/{ADMIN_ID}").json()
    assert_matches_spec("get_service_token", 200, admin)
    assert admin["actor_id"] is None  # made at first start, by nobody
    assert {a["access"] for a in admin["service_token_accesses"]} == {
        *ORG_ACCESSES, *DATABASE_ACCESSES
    }  # fmt: skip
    assert all(a["resource_type"] == "Organization" for a in admin["service_token_accesses"])

    assert api.get(org_path(), headers=auth(created)).status_code == 404  # holds nothing
    deleted = api.delete(f"{TOKENS}/{created['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert_matches_spec("delete_service_token", 204, None)
    assert_error(api.get(f"{TOKENS}/{created['id']}"), 404, "not_found")
    assert_error(api.delete(f"{TOKENS}/{created['id']}"), 404, "not_found")
    assert_error(api.get(org_path(), headers=auth(created)), 401, "unauthorized")


def test_create_without_a_body(api: TestClient) -> None:
    """pscale posts no body at all; {} is the same: an unnamed token for ever."""
    empty_json = {"content": b"", "headers": {"content-type": "application/json"}}
    for kwargs in ({}, {"json": {}}, empty_json):
        response = api.post(TOKENS, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 200, (kwargs, response.text)
        body = response.json()
        assert_matches_spec("create_service_token", 200, body)
        assert body["name"] is None and body["display_name"] == body["id"]
        assert body["expires_at"] is None and body["token"].startswith("pscale_tkn_")


@pytest.mark.parametrize(
    "body",
    [
        {"ttl": 0},
        {"ttl": -5},
        {"ttl": 10**30},
        {"ttl": "3600"},
        {"ttl": 1.5},
        {"ttl": True},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 256},
        {"name": 7},
    ],
)
def test_create_rejects_bad_input(api: TestClient, app: FastAPI, body: dict[str, Any]) -> None:
    before = token_count(app)
    assert_error(api.post(TOKENS, json=body), 422, "unprocessable")
    assert token_count(app) == before


def test_create_rejects_a_body_that_is_not_an_object(api: TestClient, app: FastAPI) -> None:
    before = token_count(app)
    assert_error(api.post(TOKENS, json=["ci"]), 400, "bad_request")
    assert_error(api.post(TOKENS, content=b"{", headers={"content-type": "application/json"}),
                 400, "bad_request")  # fmt: skip
    assert token_count(app) == before


def test_other_organizations_tokens_do_not_exist_here(api: TestClient, app: FastAPI) -> None:
    _, other = add_organization(app, "globex")
    theirs = api.post("/v1/organizations/globex/service-tokens", headers=other).json()
    assert_error(api.get(f"{TOKENS}/{theirs['id']}"), 404, "not_found")
    assert_error(api.delete(f"{TOKENS}/{theirs['id']}"), 404, "not_found")
    assert_error(grant(api, theirs["id"], "read_organization"), 404, "not_found")
    assert_error(api.get("/v1/organizations/globex/service-tokens"), 404, "not_found")
    assert ADMIN_ID not in {
        t["id"] for t in api.get("/v1/organizations/globex/service-tokens", headers=other)
        .json()["data"]
    }  # fmt: skip


# --- what a token may do -----------------------------------------------------------------------


def test_a_token_works_at_once_with_exactly_its_grants(api: TestClient) -> None:
    create_db(api, "one")
    create_db(api, "two")
    token = create_token(api, name="narrow")
    headers = auth(token)
    assert api.get(org_path(), headers=headers).status_code == 404
    assert api.get(f"{org_path()}/databases", headers=headers).status_code == 404

    response = grant(api, token["id"], "read_organization")
    assert response.status_code == 200, response.text
    assert api.get(org_path(), headers=headers).status_code == 200

    response = grant(api, token["id"], "read_database", "read_branch", database="one")
    assert response.status_code == 200, response.text
    added = response.json()
    assert added["type"] == "list" and added["next_page"] is None
    assert [(a["access"], a["type"]) for a in added["data"]] == [
        ("read_database", "DatabaseAccess"), ("read_branch", "DatabaseAccess"),
    ]  # fmt: skip
    first = added["data"][0]
    assert first["resource"]["name"] == "one" and first["resource"]["type"] == "Database"
    assert first["resource"]["url"].endswith("/v1/organizations/acme/databases/one")
    assert first["description"] == DESCRIPTIONS["read_database"]
    assert api.get(db_path("one"), headers=headers).status_code == 200
    assert api.get(f"{db_path('one')}/branches/main", headers=headers).status_code == 200
    assert api.get(db_path("two"), headers=headers).status_code == 404
    listed = api.get(f"{org_path()}/databases", headers=headers).json()["data"]
    assert [d["name"] for d in listed] == ["one"]

    got = api.get(f"{TOKENS}/{token['id']}").json()
    assert_matches_spec("get_service_token", 200, got)
    assert {(a["access"], a["resource_name"], a["resource_type"])
            for a in got["service_token_accesses"]} == {
        ("read_organization", "acme", "Organization"),
        ("read_database", "one", "Database"),
        ("read_branch", "one", "Database"),
    }  # fmt: skip

    grants = api.get(f"{TOKENS}/{token['id']}/grants").json()["data"]
    assert [(g["resource_type"], g["resource_name"], [a["access"] for a in g["accesses"]])
            for g in grants] == [
        ("Organization", "acme", ["read_organization"]),
        ("Database", "one", ["read_database", "read_branch"]),
    ]  # fmt: skip
    assert all(ID_RE.match(g["id"]) for g in grants)

    assert (
        revoke(api, token["id"], "read_database", "read_branch", database="one").status_code == 204
    )
    assert api.get(db_path("one"), headers=headers).status_code == 404
    assert held(api, token["id"]) == {("read_organization", "acme")}
    # removing what is not held is no error; an unknown name is
    assert revoke(api, token["id"], "read_database", database="one").status_code == 204
    assert_error(revoke(api, token["id"], "read_everything"), 422, "unprocessable")


def test_database_accesses_organization_wide_cover_every_database(api: TestClient) -> None:
    create_db(api, "one")
    token = create_token(api)
    # pscale sends "database": "" when no --database is given
    response = api.post(
        f"{TOKENS}/{token['id']}/access", json={"database": "", "access": ["read_database"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["type"] == "OrganizationAccess"
    create_db(api, "later")
    for name in ("one", "later"):
        assert api.get(db_path(name), headers=auth(token)).status_code == 200
    assert revoke(api, token["id"], "read_database").status_code == 204
    assert api.get(db_path("one"), headers=auth(token)).status_code == 404


def test_granting_twice_keeps_one_access(api: TestClient, app: FastAPI) -> None:
    create_db(api, "one")
    token = create_token(api)
    for _ in range(2):
        response = grant(api, token["id"], "read_branch", "read_branch", database="one")
        assert response.status_code == 200, response.text
        assert len(response.json()["data"]) == 1
    assert held(api, token["id"]) == {("read_branch", "one")}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"access": ["read_everything"]}, 422, ["read_everything", "read_branch",
                                                "create_databases"]),
        ({"access": ["read_branch", "nope"], "database": "one"}, 422, ["nope"]),
        ({"access": ["create_databases"], "database": "one"}, 422, ["create_databases",
                                                                    "organization"]),
        ({"access": []}, 422, ["at least one"]),
        ({"access": "read_branch"}, 422, ["access"]),
        ({"database": "one"}, 422, ["access"]),
        ({"access": ["read_branch"], "database": "missing"}, 404, ["missing"]),
    ],
)  # fmt: skip
def test_access_requests_are_checked(
    api: TestClient, app: FastAPI, body: dict[str, Any], status: int, words: list[str]
) -> None:
    create_db(api, "one")
    token = create_token(api)
    before = token_count(app)
    for method in ("POST", "DELETE"):
        response = api.request(method, f"{TOKENS}/{token['id']}/access", json=body)
        code = "unprocessable" if status == 422 else "not_found"
        message = assert_error(response, status, code)["message"]
        for word in words:
            assert word in message, (word, message)
    assert token_count(app) == before
    assert_error(grant(api, "nosuchtoken1", "read_branch", database="one"), 404, "not_found")


def test_nobody_grants_what_they_do_not_hold(api: TestClient, app: FastAPI) -> None:
    create_db(api, "one")
    create_db(api, "two")
    granter = create_token(api, name="granter")
    assert (
        grant(api, granter["id"], "write_service_tokens", "read_service_tokens").status_code == 200
    )
    assert grant(api, granter["id"], "read_branch", database="one").status_code == 200
    g = auth(granter)

    made = create_token(api, headers=g, name="made")
    assert made["actor_id"] == granter["id"] and made["actor_display_name"] == "granter"
    assert grant(api, made["id"], "read_branch", database="one", headers=g).status_code == 200
    before = token_count(app)
    for accesses, database in (
        (("read_branch",), None),  # held on one database, not organization-wide
        (("read_branch",), "two"),
        (("create_databases",), None),
        (("read_branch", "create_branch"), "one"),  # nothing of a refused request is written
        (("delete_service_tokens",), None),
    ):
        response = grant(api, made["id"], *accesses, database=database, headers=g)
        message = assert_error(response, 422, "unprocessable")["message"]
        assert "do not hold" in message and accesses[-1] in message, message
    assert token_count(app) == before
    assert held(api, made["id"]) == {("read_branch", "one")}
    assert api.get(f"{db_path('one')}/branches/main", headers=auth(made)).status_code == 200
    # granting needs write_service_tokens, removing delete_service_tokens
    response = api.request("DELETE", f"{TOKENS}/{made['id']}/access", headers=g,
                           json={"access": ["read_branch"], "database": "one"})  # fmt: skip
    assert_error(response, 404, "not_found")
    assert held(api, made["id"]) == {("read_branch", "one")}

    # the spec gives these operations no OAuth scope: OAuth tokens cannot use them at all
    oauth = oauth_token(app, ["organization:read_organization"])
    assert_error(grant(api, made["id"], "read_branch", database="one", headers=oauth),
                 404, "not_found")  # fmt: skip


def test_service_token_endpoints_need_their_accesses(api: TestClient) -> None:
    reader = create_token(api)
    assert grant(api, reader["id"], "read_service_tokens").status_code == 200
    r = auth(reader)
    assert api.get(TOKENS, headers=r).status_code == 200
    assert api.get(f"{TOKENS}/{reader['id']}", headers=r).status_code == 200
    assert api.get(f"{TOKENS}/{reader['id']}/access", headers=r).status_code == 200
    assert api.get(f"{TOKENS}/{reader['id']}/grants", headers=r).status_code == 200
    assert_error(api.post(TOKENS, headers=r), 404, "not_found")
    assert_error(grant(api, reader["id"], "read_service_tokens", headers=r), 404, "not_found")
    assert_error(api.delete(f"{TOKENS}/{ADMIN_ID}", headers=r), 404, "not_found")
    assert api.get(f"{TOKENS}/{ADMIN_ID}").status_code == 200

    deleter = create_token(api)
    assert grant(api, deleter["id"], "delete_service_tokens").status_code == 200
    assert_error(api.get(TOKENS, headers=auth(deleter)), 404, "not_found")
    assert api.delete(f"{TOKENS}/{reader['id']}", headers=auth(deleter)).status_code == 204
    assert_error(api.get(TOKENS, headers=r), 401, "unauthorized")


def test_a_token_that_creates_a_database_can_use_it(api: TestClient, app: FastAPI) -> None:
    creator = create_token(api)
    assert grant(api, creator["id"], "create_databases").status_code == 200
    response = api.post(f"{org_path()}/databases", headers=auth(creator),
                        json={"name": "mine", "cluster_size": "PS_10"})  # fmt: skip
    assert response.status_code == 201, response.text
    assert api.get(db_path("mine"), headers=auth(creator)).status_code == 200
    on_mine = {a for a, where in held(api, creator["id"]) if where == "mine"}
    assert on_mine == set(DATABASE_ACCESSES)
    grants = api.get(f"{TOKENS}/{creator['id']}/access").json()["data"]
    assert {a["resource_id"] for a in grants if a["resource_type"] == "Database"} == {
        db_id(app, "mine")
    }


# --- expiry, last use, secrets at rest ---------------------------------------------------------


def test_an_expired_token_is_refused(api: TestClient) -> None:
    short = create_token(api, ttl=1)
    assert grant(api, short["id"], "read_organization").status_code == 200
    wait_until(
        lambda: api.get(org_path(), headers=auth(short)).status_code == 401,
        what="the one-second token to be refused",
    )
    assert_error(api.get(org_path(), headers=auth(short)), 401, "unauthorized")
    shown = api.get(f"{TOKENS}/{short['id']}").json()
    assert _ts(shown["expires_at"]) <= utcnow()

    lasting = create_token(api, ttl=3600)
    assert grant(api, lasting["id"], "read_organization").status_code == 200
    assert api.get(org_path(), headers=auth(lasting)).status_code == 200


def test_last_used_at_is_kept(api: TestClient) -> None:
    token = create_token(api)
    assert api.get(f"{TOKENS}/{token['id']}").json()["last_used_at"] is None
    before = utcnow() - timedelta(seconds=1)
    api.get(org_path(), headers=auth(token))  # refused (no access) yet used
    shown = api.get(f"{TOKENS}/{token['id']}").json()
    assert_matches_spec("get_service_token", 200, shown)
    assert shown["last_used_at"] is not None and _ts(shown["last_used_at"]) >= before


def test_the_plaintext_is_never_stored(api: TestClient, app: FastAPI) -> None:
    token = create_token(api, name="secret-keeper")
    assert grant(api, token["id"], "read_organization").status_code == 200
    assert api.get(org_path(), headers=auth(token)).status_code == 200
    home = app.state.settings.home
    files = [p for p in home.iterdir() if p.name.startswith("moonbase.db")]
    assert home / "moonbase.db" in files
    stored = b"".join(p.read_bytes() for p in files)
    # the scan sees what was committed: the hash of this very token is there
    assert token_hash(token["token"]).encode() in stored
    assert token["token"].encode() not in stored
    secret_part = token["token"].removeprefix("pscale_tkn_").encode()
    assert secret_part not in stored


def test_every_access_has_a_description() -> None:
    assert set(DESCRIPTIONS) == {*ORG_ACCESSES, *DATABASE_ACCESSES}
    assert all(text.strip() for text in DESCRIPTIONS.values())
