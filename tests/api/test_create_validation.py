"""Every way ``create_database`` refuses a request, and that a refusal writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from moonbase.provisioners.fake import FakeProvisioner

from api_support import (
    add_organization,
    assert_error,
    branch_path,
    create_db,
    installation,
    list_all_names,
    org_path,
    row_counts,
    wait_ready,
)

OK = {"name": "fresh", "cluster_size": "PS_10"}

#: (id, body, status, code); bodies are sent as JSON
#: expected (status, code) of the refusals
E422, E400, E404 = (422, "unprocessable"), (400, "bad_request"), (404, "not_found")

INVALID: list[tuple[str, Any, int, str]] = [
    ("missing name", {"cluster_size": "PS_10"}, *E422),
    ("missing cluster_size", {"name": "fresh"}, *E422),
    ("name uppercase", {**OK, "name": "Fresh"}, *E422),
    ("name with space", {**OK, "name": "my db"}, *E422),
    ("name too long", {**OK, "name": "a" * 64}, *E422),
    ("name leading hyphen", {**OK, "name": "-fresh"}, *E422),
    ("name leading underscore", {**OK, "name": "_fresh"}, *E422),
    ("name empty", {**OK, "name": ""}, *E422),
    ("name with dot", {**OK, "name": "fre.sh"}, *E422),
    ("name with slash", {**OK, "name": "fre/sh"}, *E422),
    ("name trailing newline", {**OK, "name": "fresh\n"}, *E422),
    ("duplicate name", {**OK, "name": "taken"}, *E422),
    ("unknown cluster_size", {**OK, "cluster_size": "PS_7"}, *E422),
    ("empty cluster_size", {**OK, "cluster_size": ""}, *E422),
    ("PS_5 is postgresql only", {**OK, "cluster_size": "PS_5"}, *E422),
    ("PS_5 for explicit mysql", {**OK, "cluster_size": "PS_5", "kind": "mysql"}, *E422),
    ("PS_DEV mysql", {**OK, "cluster_size": "PS_DEV"}, *E422),
    ("PS_DEV postgresql", {**OK, "cluster_size": "PS_DEV", "kind": "postgresql"}, *E422),
    ("unknown region", {**OK, "region": "mars-north-1"}, *E422),
    ("replicas 1", {**OK, "replicas": 1}, *E422),
    ("replicas -1", {**OK, "replicas": -1}, *E422),
    ("replicas too many", {**OK, "replicas": 6}, *E422),
    ("replicas huge", {**OK, "replicas": 10**6}, *E422),
    ("unknown kind", {**OK, "kind": "oracle"}, *E422),
    ("kind wrong case", {**OK, "kind": "MySQL"}, *E422),
    ("major_version for mysql", {**OK, "major_version": "10.11"}, *E422),
    ("major_version for mysql, made up", {**OK, "major_version": "8"}, *E422),
    ("unavailable postgresql major_version",
     {**OK, "kind": "postgresql", "major_version": "9"}, *E422),
    ("storage min > max",
     {**OK, "storage": {"minimum_storage_bytes": 2 << 30, "maximum_storage_bytes": 1 << 30}},
     *E422),
    ("storage min negative", {**OK, "storage": {"minimum_storage_bytes": -1}}, *E422),
    ("storage max negative", {**OK, "storage": {"maximum_storage_bytes": -5}}, *E422),
    ("storage max zero", {**OK, "storage": {"maximum_storage_bytes": 0}}, *E422),
    ("body a JSON array", [OK], *E400),
    ("body a JSON string", "fresh", *E400),
    ("replicas a string", {**OK, "replicas": "2"}, *E422),
    ("replicas a float", {**OK, "replicas": 2.5}, *E422),
    ("replicas a boolean", {**OK, "replicas": True}, *E422),
    ("name a number", {**OK, "name": 5}, *E422),
    ("name null", {**OK, "name": None}, *E422),
    ("cluster_size a number", {**OK, "cluster_size": 10}, *E422),
    ("storage a string", {**OK, "storage": "10GB"}, *E422),
    ("storage bytes a string",
     {**OK, "storage": {"minimum_storage_bytes": "1024"}}, *E422),
]  # fmt: skip

#: (id, raw body) sent with ``Content-Type: application/json``: all 400 bad_request
NOT_AN_OBJECT: list[tuple[str, bytes]] = [
    ("garbage", b"this is not json"),
    ("truncated object", b'{"name": "fresh", "cluster_size": '),
    ("single quotes", b"{'name': 'fresh', 'cluster_size': 'PS_10'}"),
    ("trailing comma", b'{"name": "fresh", "cluster_size": "PS_10",}'),
    ("binary", bytes(range(256))),
    # JSON, but not an object
    ("null", b"null"),
    ("number", b"123"),
    ("boolean", b"true"),
]


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[TestClient, FakeProvisioner]]:
    """One installation for the refusals (they write nothing, so they can share it) with one
    ready database, "taken"; nothing changes in the background once it is ready."""
    with installation() as (client, fake):
        create_db(client, "taken")
        wait_ready(client, "taken")
        yield client, fake


@pytest.fixture
def api(shared: tuple[TestClient, FakeProvisioner]) -> Iterator[TestClient]:
    """The shared client; afterwards: nothing was written and nothing started."""
    client, fake = shared
    app = client.app
    names, rows, running = list_all_names(client), row_counts(app), dict(fake.running)
    assert names == ["taken"]
    yield client
    assert list_all_names(client) == names, "a refused request created a database"
    assert row_counts(app) == rows, "a refused request wrote database or branch rows"
    assert fake.running == running, "a refused request started servers"
    assert_error(client.get(branch_path("fresh")), 404, "not_found")


@pytest.mark.parametrize(
    "body,status,code", [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_create_is_refused(api: TestClient, body: Any, status: int, code: str) -> None:
    assert_error(api.post(f"{org_path()}/databases", json=body), status, code)


@pytest.mark.parametrize("raw", [c[1] for c in NOT_AN_OBJECT], ids=[c[0] for c in NOT_AN_OBJECT])
def test_body_that_is_not_a_json_object_is_a_bad_request(api: TestClient, raw: bytes) -> None:
    response = api.post(
        f"{org_path()}/databases", content=raw, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "bad_request")


def test_missing_body_is_refused(api: TestClient) -> None:
    response = api.post(f"{org_path()}/databases")
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"code", "message"}


def test_unknown_organization(api: TestClient) -> None:
    assert_error(api.post("/v1/organizations/nobody/databases", json=OK), 404, "not_found")


def test_refusal_names_the_problem(api: TestClient) -> None:
    """Messages say which field is wrong (the 422s would otherwise be indistinguishable)."""
    cases = {
        "cluster_size": {**OK, "cluster_size": "PS_7"},
        "region": {**OK, "region": "mars-north-1"},
        "replicas": {**OK, "replicas": 1},
        "major_version": {**OK, "major_version": "10.11"},
        "taken": {**OK, "name": "taken"},
        "storage": {**OK, "storage": {"minimum_storage_bytes": -1}},
        "name": {"cluster_size": "PS_10"},
    }
    for word, body in cases.items():
        message = assert_error(
            api.post(f"{org_path()}/databases", json=body), 422, "unprocessable"
        )["message"]
        assert word in message, (word, message)


# --- the boundaries, accepted: each refusal above is refused for the stated reason --------

VALID: list[tuple[str, dict[str, Any]]] = [
    ("minimal", {}),
    ("name 63 characters", {"name": "a" * 63}),
    ("name digits, hyphen, underscore", {"name": "0-a_b"}),
    ("name a single character", {"name": "x"}),
    ("replicas 0", {"replicas": 0}),
    ("replicas 2", {"replicas": 2}),
    ("replicas 5", {"replicas": 5}),
    ("explicit mysql", {"kind": "mysql"}),
    ("region given", {"region": "us-east"}),
    ("region blank means default", {"region": ""}),
    ("size spelt with a hyphen", {"cluster_size": "PS-10"}),
    ("PS_5 for postgresql", {"cluster_size": "PS_5", "kind": "postgresql"}),
    ("postgresql version 15", {"kind": "postgresql", "major_version": "15"}),
    ("postgresql default version", {"kind": "postgresql"}),
    ("storage min == max", {"storage": {"minimum_storage_bytes": 1 << 30,
                                        "maximum_storage_bytes": 1 << 30}}),
    ("unknown fields are ignored", {"plan": "scaler_pro"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def writable() -> Iterator[TestClient]:
    with installation() as (client, _fake):
        yield client


@pytest.mark.parametrize("n,extra", list(enumerate(c[1] for c in VALID)), ids=[c[0] for c in VALID])
def test_valid_create_is_accepted(writable: TestClient, n: int, extra: dict[str, Any]) -> None:
    body = {**OK, "name": f"ok-{n}", **extra}
    response = writable.post(f"{org_path()}/databases", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == body["name"]
    assert created["kind"] == body.get("kind", "mysql")
    assert created["region"]["slug"] == "us-east"
    assert created["default_branch"] == "main"
    assert created["replicas"] == body.get("replicas", 0)
    assert created["cluster_size"] == body["cluster_size"].replace("-", "_")
    if created["kind"] == "postgresql":
        assert created["major_version"] == body.get("major_version", "18")
    branch = writable.get(branch_path(body["name"])).json()
    assert branch["production"] is True and branch["replicas"] == body.get("replicas", 0)


def test_name_is_free_in_another_organization_only(writable: TestClient) -> None:
    create_db(writable, "shared")
    _, other = add_organization(writable.app, "globex")
    response = writable.post(
        "/v1/organizations/globex/databases", json={**OK, "name": "shared"}, headers=other
    )
    assert response.status_code == 201, response.text
    assert_error(
        writable.post(f"{org_path()}/databases", json={**OK, "name": "shared"}),
        422,
        "unprocessable",
    )
