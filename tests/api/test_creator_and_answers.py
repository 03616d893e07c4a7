"""What a creator may do with what it made, and answers that must not reveal anything."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_support import (
    add_organization,
    assert_error,
    db_path,
    org_id,
    org_path,
    service_token,
    wait_until,
)


def test_a_token_that_creates_a_database_gets_database_access_on_it(
    api: TestClient, app: FastAPI
) -> None:
    creator = service_token(app, [("create_databases", "Organization", org_id(app))])
    created = api.post(
        f"{org_path()}/databases",
        json={"name": "mine", "cluster_size": "PS_10"},
        headers=creator,
    )
    assert created.status_code == 201, created.text
    got = api.get(db_path("mine"), headers=creator)
    assert got.status_code == 200 and got.json()["name"] == "mine"
    listed = api.get(f"{org_path()}/databases", headers=creator).json()
    assert [d["name"] for d in listed["data"]] == ["mine"]
    # ... and nothing on databases it did not create
    api.post(f"{org_path()}/databases", json={"name": "theirs", "cluster_size": "PS_10"})
    assert_error(api.get(db_path("theirs"), headers=creator), 404, "not_found")
    wait_until(lambda: api.get(db_path("mine"), headers=creator).json()["ready"])
    assert api.delete(db_path("mine"), headers=creator).status_code == 204


def test_another_organization_looks_exactly_like_a_missing_one(
    api: TestClient, app: FastAPI
) -> None:
    _, other = add_organization(app, "globex")
    theirs = assert_error(api.get(org_path("acme"), headers=other), 404, "not_found")
    missing = assert_error(api.get(org_path("nobody"), headers=other), 404, "not_found")
    assert theirs["message"].replace("acme", "X") == missing["message"].replace("nobody", "X")


def test_an_empty_body_is_a_bad_request(api: TestClient) -> None:
    response = api.post(
        f"{org_path()}/databases", content=b"", headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "bad_request")
