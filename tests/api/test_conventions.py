"""PlanetScale's API conventions: page envelope, ids, timestamps, URLs, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import (
    ID_RE,
    ORG,
    TIMESTAMP_RE,
    assert_error,
    branch_path,
    create_db,
    db_path,
    installation,
    org_path,
    ready_db,
    walk,
)
from contract import assert_matches_spec

DEFAULT_BASE = "http://127.0.0.1:8484"  # Settings() default host and port: not the test client's


def test_pagination_envelope(api: TestClient) -> None:
    created = [f"db-{i:02d}" for i in range(30)]
    for name in created:
        create_db(api, name)
    url = f"{org_path()}/databases"
    seen: list[str] = []
    for page, size in enumerate([7, 7, 7, 7, 2], start=1):
        response = api.get(url, params={"page": page, "per_page": 7})
        assert response.status_code == 200, response.text
        body = response.json()
        assert_matches_spec("list_databases", 200, body)
        assert body["type"] == "list"
        assert body["current_page"] == page and body["per_page"] == 7
        assert body["total_count"] == 30 and body["total_pages"] == 5
        assert len(body["data"]) == size
        if page < 5:
            assert body["next_page"] == page + 1
            assert body["next_page_url"] == f"{DEFAULT_BASE}{url}?page={page + 1}&per_page=7"
        else:
            assert body["next_page"] is None and body["next_page_url"] is None
        if page > 1:
            assert body["prev_page"] == page - 1
            assert body["prev_page_url"] == f"{DEFAULT_BASE}{url}?page={page - 1}&per_page=7"
        else:
            assert body["prev_page"] is None and body["prev_page_url"] is None
        seen += [d["name"] for d in body["data"]]
    assert seen == created  # every database once, in creation order

    beyond = api.get(url, params={"page": 6, "per_page": 7}).json()
    assert beyond["data"] == [] and beyond["next_page"] is None and beyond["prev_page"] == 5
    assert beyond["total_count"] == 30

    default = api.get(url).json()
    assert default["per_page"] == 25 and len(default["data"]) == 25 and default["next_page"] == 2
    assert len(api.get(url, params={"per_page": 100}).json()["data"]) == 30


def test_page_links_keep_other_query_parameters(api: TestClient) -> None:
    body = api.get(
        f"{org_path()}/cluster-size-skus", params={"engine": "postgresql"}
    ).json()  # a bare array, not paged
    assert isinstance(body, list)
    for i in range(3):
        create_db(api, f"k{i}")
    page = api.get(f"{org_path()}/databases", params={"per_page": 1, "page": 2}).json()
    assert page["next_page_url"] == f"{DEFAULT_BASE}{org_path()}/databases?per_page=1&page=3"


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": 101},
        {"per_page": 0},
        {"page": 0},
        {"page": -1},
        {"page": "two"},
        {"per_page": "many"},
    ],
)
def test_page_parameters_out_of_range(api: TestClient, params: dict[str, Any]) -> None:
    for url in (f"{org_path()}/databases", "/v1/regions", f"{org_path()}/regions"):
        response = api.get(url, params=params)
        assert 400 <= response.status_code < 500, (url, params, response.text)
        body = response.json()
        assert set(body) == {"code", "message"}, body
        assert body["code"] in ("bad_request", "unprocessable"), body


def _bodies(api: TestClient) -> list[tuple[str, Any]]:
    """A body of each kind of resource: organization, database, branch, password, role."""
    ready_db(api, "shop")
    ready_db(api, "pg", "postgresql")
    pw_url = f"{branch_path('shop')}/passwords"
    role_url = f"{branch_path('pg')}/roles"
    pw = api.post(pw_url, json={"ttl": 3600}).json()
    role = api.post(role_url, json={"ttl": 3600}).json()
    urls = [
        "/v1/organizations",
        org_path(),
        f"{org_path()}/regions",
        "/v1/regions",
        f"{org_path()}/databases",
        db_path("shop"),
        f"{db_path('shop')}/regions",
        f"{db_path('shop')}/branches",
        branch_path("shop"),
        pw_url,
        f"{pw_url}/{pw['id']}",
        role_url,
        f"{role_url}/{role['id']}",
    ]
    out = [("create_password", pw), ("create_role", role)]
    for url in urls:
        response = api.get(url)
        assert response.status_code == 200, (url, response.text)
        out.append((url, response.json()))
    return out


def test_ids_are_twelve_lowercase_alphanumerics(api: TestClient) -> None:
    checked = 0
    for source, body in _bodies(api):
        for where, key, value in walk(body):
            if key == "id":
                assert isinstance(value, str) and ID_RE.match(value), (source, where, value)
                checked += 1
    assert checked >= 20
    a = create_db(api, "one")["id"]
    b = create_db(api, "two")["id"]
    assert a != b


def test_timestamps_are_utc_iso8601_with_milliseconds(api: TestClient) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    bodies = _bodies(api)
    checked = 0
    for source, body in bodies:
        for where, key, value in walk(body):
            if not key.endswith("_at") or value is None:
                continue
            assert isinstance(value, str) and TIMESTAMP_RE.match(value), (source, where, key, value)
            checked += 1
            if key in ("created_at", "updated_at"):
                when = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
                # UTC, not local time: within seconds of now
                assert before <= when <= datetime.now(UTC) + timedelta(seconds=5), (where, value)
    assert checked >= 20
    pw = dict(bodies)["create_password"]
    created = datetime.strptime(pw["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    expires = datetime.strptime(pw["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs((expires - created).total_seconds() - 3600) < 2


def _check_urls(base: str, body: dict[str, Any], db: str, branch: dict[str, Any]) -> None:
    api_db = f"{base}/v1/organizations/{ORG}/databases/{db}"
    assert body["url"] == api_db
    assert body["branches_url"] == f"{api_db}/branches"
    assert body["html_url"] == f"{base}/{ORG}/{db}"
    assert branch["url"] == f"{api_db}/branches/main"
    assert branch["html_url"] == f"{base}/{ORG}/{db}/main"


def test_urls_use_the_installation_base_url(api: TestClient) -> None:
    body = create_db(api, "shop")
    _check_urls(DEFAULT_BASE, body, "shop", api.get(branch_path("shop")).json())
    for d in api.get(f"{org_path()}/databases").json()["data"]:
        assert d["url"].startswith(DEFAULT_BASE + "/v1/")


def test_urls_follow_a_configured_public_url() -> None:
    base = "https://moon.example.test"
    with installation(public_url=base + "/") as (client, _fake):
        body = create_db(client, "shop")
        create_db(client, "other")
        _check_urls(base, body, "shop", client.get(branch_path("shop")).json())
        page = client.get(f"{org_path()}/databases", params={"per_page": 1}).json()
        assert page["next_page_url"] == f"{base}{org_path()}/databases?per_page=1&page=2"
        listed = client.get(f"{org_path()}/databases").json()["data"]
        assert {d["url"] for d in listed} == {
            f"{base}{db_path('shop')}",
            f"{base}{db_path('other')}",
        }


@pytest.mark.parametrize(
    "method,url",
    [
        ("GET", "/v1/nope"),
        ("GET", "/v1"),
        ("GET", "/v1/organizations/acme/nothing-here"),
        ("GET", "/v1/organizations/acme/databases/shop/branches/main/nothing"),
        ("POST", "/v1/organizations/acme/teleport"),
    ],
)
def test_unknown_route_is_not_found(api: TestClient, method: str, url: str) -> None:
    assert_error(api.request(method, url), 404, "not_found")


@pytest.mark.parametrize(
    "url",
    [
        "/v1/organizations/nobody",
        "/v1/organizations/acme/databases/nothing",
        "/v1/organizations/acme/databases/nothing/branches",
        "/v1/organizations/acme/databases/shop/branches/nothing",
        "/v1/organizations/acme/databases/shop/branches/main/passwords/abcdefghijkl",
    ],
)
def test_unknown_resource_is_not_found(api: TestClient, url: str) -> None:
    create_db(api, "shop")
    assert_error(api.get(url), 404, "not_found")


def test_wrong_method_is_an_error_in_the_same_shape(api: TestClient) -> None:
    response = api.put(org_path())
    assert response.status_code == 405
    assert set(response.json()) == {"code", "message"}


def test_organization_counts_live_databases(api: TestClient) -> None:
    assert api.get(org_path()).json()["database_count"] == 0
    create_db(api, "a")
    create_db(api, "b")
    assert api.get(org_path()).json()["database_count"] == 2
    assert api.delete(db_path("a")).status_code == 204
    assert api.get(org_path()).json()["database_count"] == 1
