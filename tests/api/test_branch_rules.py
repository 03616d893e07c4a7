"""Branches with the fake provisioner: create, update, delete, promote and demote, list
filters, safe migrations, schema and lint, and the database's branch counters."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moonbase.engines.base import TableSchema
from moonbase.models import Branch
from moonbase.provisioners.fake import FakeProvisioner
from moonbase.settings import Region

from api_support import (
    WAIT,
    assert_error,
    branch_path,
    branches_path,
    create_branch,
    db_path,
    get_branch,
    installation,
    ready_branch,
    ready_db,
    store,
    wait_branch_ready,
    wait_until,
)
from contract import assert_matches_spec

E422, E400, E404 = (422, "unprocessable"), (400, "bad_request"), (404, "not_found")
REGIONS = (Region("us-east", "Moonbase local (us-east)", "This host"),
           Region("eu-west", "Moonbase local (eu-west)", "This host"))  # fmt: skip


def table(name: str, **fields: Any) -> dict[str, Any]:
    """A table as a provisioner reports it (``TableSchema``); a clean InnoDB table unless
    ``fields`` say otherwise."""
    defaults: dict[str, Any] = {
        "raw": f"CREATE TABLE `{name}` (\n  `id` bigint NOT NULL,\n  PRIMARY KEY (`id`)\n)",
        "columns": (("id", "bigint", False),),
        "unique_keys": (("id",),),
        "strict_unique_keys": (("id",),),
        "charset": "utf8mb4",
        "engine": "InnoDB",
    }
    return asdict(TableSchema(name=name, **{**defaults, **fields}))


def names(client: TestClient, db: str, **params: Any) -> list[str]:
    response = client.get(branches_path(db), params={"per_page": 100, **params})
    assert response.status_code == 200, response.text
    assert_matches_spec("list_branches", 200, response.json())
    return [b["name"] for b in response.json()["data"]]


def database(client: TestClient, db: str) -> dict[str, Any]:
    response = client.get(db_path(db))
    assert response.status_code == 200, response.text
    return response.json()


def counters(client: TestClient, db: str) -> tuple[int, int, int, bool]:
    """(branches, production, development, at the development limit) of the database."""
    body = database(client, db)
    return (
        body["branches_count"],
        body["production_branches_count"],
        body["development_branches_count"],
        body["at_development_branch_usage_limit"],
    )


def branch_rows(client: TestClient) -> int:
    with store(client.app).tx() as s:
        return s.scalar(select(func.count()).select_from(Branch)) or 0


# --- create: defaults and the copy of the parent's schema ---------------------------------


def test_create_defaults_then_ready_with_the_parents_schema(
    api: TestClient, fake: FakeProvisioner, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready_db(api, "shop")
    main = get_branch(api, "shop")
    fake.schemas[main["id"]] = [table("orders"), table("users")]
    gate = threading.Event()
    copy = fake.copy_schema

    def gated_copy(parent: Any, plan: Any) -> None:
        gate.wait(WAIT)  # hold the copy: the branch is up but has no schema yet
        copy(parent, plan)

    monkeypatch.setattr(fake, "copy_schema", gated_copy)
    response = api.post(branches_path("shop"), json={"name": "dev"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert_matches_spec("create_branch", 201, created)
    assert created["name"] == "dev" and created["parent_branch"] == "main"
    assert created["production"] is False and created["cluster_name"] == "PS_DEV"
    assert created["region"]["slug"] == main["region"]["slug"]
    assert created["kind"] == "mysql" and created["deletion_protected"] is False
    assert created["state"] == "pending"
    assert created["ready"] is False and created["schema_ready"] is False
    assert created["has_replicas"] is False and created["replicas"] == 0

    copying = wait_until(
        lambda: (b := get_branch(api, "shop", "dev"))["status"]["verdict"] == (
            "copying the parent branch's schema") and b,
        what="the copy to start",
    )  # fmt: skip
    assert created["id"] in fake.running  # the servers are up ...
    assert copying["ready"] is False and copying["schema_ready"] is False  # ... not the schema
    gate.set()
    ready = wait_branch_ready(api, "shop", "dev")
    assert ready["schema_ready"] is True and ready["state"] == "ready"
    assert fake.schemas[created["id"]] == fake.schemas[main["id"]]
    schema = api.get(f"{branch_path('shop', 'dev')}/schema").json()["data"]
    assert [t["name"] for t in schema] == ["orders", "users"]

    # copied once: the parent changing later does not reach the branch
    fake.schemas[main["id"]] = [table("orders")]
    api.get(f"{branch_path('shop')}/schema")
    later = api.get(f"{branch_path('shop', 'dev')}/schema").json()["data"]
    assert [t["name"] for t in later] == ["orders", "users"]


def test_create_from_a_development_parent_in_another_region() -> None:
    with installation(regions=REGIONS) as (client, fake):
        ready_db(client, "shop")
        ready_branch(client, "shop", "dev")
        dev_id = get_branch(client, "shop", "dev")["id"]
        fake.schemas[dev_id] = [table("only_on_dev")]
        client.get(f"{branch_path('shop', 'dev')}/schema")
        response = client.post(
            branches_path("shop"),
            json={"name": "feature", "parent_branch": "dev", "region": "eu-west",
                  "deletion_protected": True, "kind": "mysql", "cluster_size": "PS_10"},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["parent_branch"] == "dev" and body["region"]["slug"] == "eu-west"
        assert body["deletion_protected"] is True
        ready = wait_branch_ready(client, "shop", "feature")
        assert ready["schema_ready"] is True
        assert fake.schemas[body["id"]] == [table("only_on_dev")]


# --- create: refusals write nothing -----------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[TestClient, FakeProvisioner]]:
    """shop (mysql), pgdb (postgresql 18), fenced (restrict_branch_region), two regions."""
    with installation(regions=REGIONS) as (client, fake):
        ready_db(client, "shop")
        ready_db(client, "pgdb", "postgresql")
        ready_db(client, "fenced")
        patched = client.patch(db_path("fenced"), json={"restrict_branch_region": True})
        assert patched.json()["restrict_branch_region"] is True
        yield client, fake


@pytest.fixture
def shared(world: tuple[TestClient, FakeProvisioner]) -> Iterator[TestClient]:
    """The shared client; afterwards no branch was written or started."""
    client, fake = world
    before = (branch_rows(client), names(client, "shop"), names(client, "pgdb"), len(fake.running))
    yield client
    after = (branch_rows(client), names(client, "shop"), names(client, "pgdb"), len(fake.running))
    assert after == before, "a refused request wrote or started a branch"


CREATE_REFUSALS: list[tuple[str, str, Any, int, str]] = [
    ("name empty", "shop", {"name": ""}, *E422),
    ("name uppercase", "shop", {"name": "Dev"}, *E422),
    ("name leading hyphen", "shop", {"name": "-dev"}, *E422),
    ("name leading underscore", "shop", {"name": "_dev"}, *E422),
    ("name with space", "shop", {"name": "my dev"}, *E422),
    ("name with dot", "shop", {"name": "dev.1"}, *E422),
    ("name with slash", "shop", {"name": "dev/1"}, *E422),
    ("name too long", "shop", {"name": "d" * 64}, *E422),
    ("name trailing newline", "shop", {"name": "dev\n"}, *E422),
    ("name missing", "shop", {"parent_branch": "main"}, *E422),
    ("name null", "shop", {"name": None}, *E422),
    ("name a number", "shop", {"name": 5}, *E422),
    ("duplicate name", "shop", {"name": "main"}, *E422),
    ("unknown parent", "shop", {"name": "dev", "parent_branch": "nope"}, *E422),
    ("unknown region", "shop", {"name": "dev", "region": "mars-north-1"}, *E422),
    ("restrict_branch_region", "fenced", {"name": "dev", "region": "eu-west"}, *E422),
    ("backup_id", "shop", {"name": "dev", "backup_id": "abcdefghijkl"}, *E422),
    ("seed_data", "shop", {"name": "dev", "seed_data": "last_successful_backup"}, *E422),
    ("restore_point", "shop", {"name": "dev", "restore_point": "2026-01-01T00:00:00Z"}, *E422),
    ("create_database_if_missing", "shop",
     {"name": "dev", "create_database_if_missing": True}, *E422),
    ("kind mismatch", "shop", {"name": "dev", "kind": "postgresql"}, *E422),
    ("kind mismatch, postgresql", "pgdb", {"name": "dev", "kind": "mysql"}, *E422),
    ("major_version mismatch", "pgdb", {"name": "dev", "major_version": "15"}, *E422),
    ("major_version on mysql", "shop", {"name": "dev", "major_version": "8.0"}, *E422),
    ("unknown cluster_size", "shop", {"name": "dev", "cluster_size": "PS_7"}, *E422),
    ("PS_5 on mysql", "shop", {"name": "dev", "cluster_size": "PS_5"}, *E422),
    ("deletion_protected a string", "shop", {"name": "dev", "deletion_protected": "yes"},
     *E422),
    ("body a JSON array", "shop", [{"name": "dev"}], *E400),
    ("unknown database", "nope", {"name": "dev"}, *E404),
]  # fmt: skip


@pytest.mark.parametrize(
    "db,body,status,code", [c[1:] for c in CREATE_REFUSALS], ids=[c[0] for c in CREATE_REFUSALS]
)
def test_create_refusals(shared: TestClient, db: str, body: Any, status: int, code: str) -> None:
    assert_error(shared.post(branches_path(db), json=body), status, code)


def test_restricted_region_accepts_the_databases_own_region(
    world: tuple[TestClient, FakeProvisioner],
) -> None:
    client, _ = world
    body = create_branch(client, "fenced", "inside", region="us-east")
    assert body["region"]["slug"] == "us-east"
    assert client.delete(branch_path("fenced", "inside")).status_code == 204


def test_development_branch_limit() -> None:
    with installation(development_branch_limit=2) as (client, _):
        ready_db(client, "shop")
        assert counters(client, "shop") == (1, 1, 0, False)
        assert database(client, "shop")["development_branches_limit"] == 2
        create_branch(client, "shop", "one")
        assert counters(client, "shop") == (2, 1, 1, False)
        create_branch(client, "shop", "two")
        assert counters(client, "shop") == (3, 1, 2, True)
        rows = branch_rows(client)
        assert_error(client.post(branches_path("shop"), json={"name": "three"}), *E422)
        assert branch_rows(client) == rows and names(client, "shop") == ["main", "one", "two"]
        # a production branch does not count: promoting one frees a place
        assert client.post(f"{branch_path('shop', 'two')}/promote").status_code == 200
        assert counters(client, "shop") == (3, 2, 1, False)
        create_branch(client, "shop", "three")
        assert counters(client, "shop") == (4, 2, 2, True)
        # so does deleting one, at once
        assert client.delete(branch_path("shop", "one")).status_code == 204
        assert counters(client, "shop") == (3, 2, 1, False)
        create_branch(client, "shop", "four")
        assert counters(client, "shop")[3] is True


# --- update ------------------------------------------------------------------------------------


def test_rename_keeps_children_and_the_default_branch_in_step(api: TestClient) -> None:
    ready_db(api, "shop")
    create_branch(api, "shop", "dev")
    create_branch(api, "shop", "feature", parent_branch="dev")
    response = api.patch(branch_path("shop", "dev"), json={"new_name": "staging"})
    assert response.status_code == 200, response.text
    assert_matches_spec("update_branch", 200, response.json())
    assert response.json()["name"] == "staging"
    assert response.json()["url"].endswith("/branches/staging")
    assert get_branch(api, "shop", "feature")["parent_branch"] == "staging"
    assert_error(api.get(branch_path("shop", "dev")), *E404)

    renamed = api.patch(branch_path("shop"), json={"new_name": "trunk"})
    assert renamed.status_code == 200, renamed.text
    assert database(api, "shop")["default_branch"] == "trunk"
    assert get_branch(api, "shop", "staging")["parent_branch"] == "trunk"
    assert database(api, "shop")["ready"] is True  # the default branch is still found
    assert sorted(names(api, "shop")) == ["feature", "staging", "trunk"]
    # the old name is free again
    assert create_branch(api, "shop", "main", parent_branch="trunk")["parent_branch"] == "trunk"


def test_update_refusals_change_nothing(api: TestClient) -> None:
    ready_db(api, "shop")
    create_branch(api, "shop", "dev")
    create_branch(api, "shop", "other")
    for body in ({"new_name": "other"}, {"new_name": "main"}, {"new_name": "Bad Name"},
                 {"new_name": ""}, {"deletion_protected": "yes"}):  # fmt: skip
        assert_error(api.patch(branch_path("shop", "dev"), json=body), *E422)
    after = get_branch(api, "shop", "dev")
    assert after["name"] == "dev" and after["deletion_protected"] is False
    assert names(api, "shop") == ["main", "dev", "other"]
    assert_error(api.patch(branch_path("shop", "nope"), json={"new_name": "x"}), *E404)


def test_deletion_protection(api: TestClient) -> None:
    ready_db(api, "shop")
    create_branch(api, "shop", "dev")
    protected = api.patch(branch_path("shop", "dev"), json={"deletion_protected": True})
    assert protected.json()["deletion_protected"] is True
    assert get_branch(api, "shop", "dev")["deletion_protected"] is True
    assert_error(api.delete(branch_path("shop", "dev")), *E422)
    assert "dev" in names(api, "shop")
    api.patch(branch_path("shop", "dev"), json={"deletion_protected": False})
    assert api.delete(branch_path("shop", "dev")).status_code == 204
    assert names(api, "shop") == ["main"]


# --- delete ------------------------------------------------------------------------------------


def test_the_default_branch_cannot_be_deleted(api: TestClient) -> None:
    ready_db(api, "shop")
    assert_error(api.delete(branch_path("shop")), *E422)
    assert_error(api.delete(branch_path("shop"), params={"delete_descendants": "true"}), *E422)
    assert names(api, "shop") == ["main"]
    assert get_branch(api, "shop")["ready"] is True


def test_delete_descendants(api: TestClient, fake: FakeProvisioner) -> None:
    """main -> a -> b -> c, a -> d, main -> e -> x"""
    ready_db(api, "shop")
    for name, parent in (("a", "main"), ("b", "a"), ("c", "b"), ("d", "a"), ("e", "main"),
                         ("x", "e")):  # fmt: skip
        create_branch(api, "shop", name, parent_branch=parent)
    ids = {n: get_branch(api, "shop", n)["id"] for n in "abcdex"}
    for name in ids:
        wait_branch_ready(api, "shop", name)

    # one protected descendant stops the whole deletion
    api.patch(branch_path("shop", "c"), json={"deletion_protected": True})
    refused = api.delete(branch_path("shop", "a"), params={"delete_descendants": "true"})
    assert_error(refused, *E422)
    assert "'c'" in refused.json()["message"]
    assert sorted(names(api, "shop")) == ["a", "b", "c", "d", "e", "main", "x"]
    api.patch(branch_path("shop", "c"), json={"deletion_protected": False})

    response = api.delete(branch_path("shop", "a"), params={"delete_descendants": "true"})
    assert response.status_code == 204 and response.content == b""
    assert sorted(names(api, "shop")) == ["e", "main", "x"]
    wait_until(lambda: set(fake.destroyed) >= {ids[n] for n in "abcd"}, what="teardown")

    # without delete_descendants only the branch goes; its children stay
    assert api.delete(branch_path("shop", "e")).status_code == 204
    assert sorted(names(api, "shop")) == ["main", "x"]
    child = get_branch(api, "shop", "x")
    assert child["parent_branch"] == "e" and child["ready"] is True
    wait_until(lambda: ids["e"] in fake.destroyed, what="e torn down")
    assert ids["x"] not in fake.destroyed and ids["x"] in fake.running
    assert set(fake.destroyed) == {ids[n] for n in "abcde"}


def test_a_deleted_name_can_be_used_again_at_once(api: TestClient, fake: FakeProvisioner) -> None:
    ready_db(api, "shop")
    old = ready_branch(api, "shop", "dev")
    assert api.delete(branch_path("shop", "dev")).status_code == 204
    new = create_branch(api, "shop", "dev")
    assert new["id"] != old["id"]
    assert wait_branch_ready(api, "shop", "dev")["id"] == new["id"]
    wait_until(lambda: old["id"] in fake.destroyed, what="the old one torn down")
    assert new["id"] in fake.running and names(api, "shop") == ["main", "dev"]


# --- promote and demote -----------------------------------------------------------------------


def test_promote_and_demote(api: TestClient, fake: FakeProvisioner) -> None:
    ready_db(api, "ha", replicas=2)
    ready_branch(api, "ha", "dev")
    assert counters(api, "ha") == (2, 1, 1, False)

    promoted = api.post(f"{branch_path('ha', 'dev')}/promote")
    assert promoted.status_code == 200, promoted.text
    body = promoted.json()
    assert_matches_spec("promote_branch", 200, body)
    assert body["production"] is True and body["replicas"] == 2
    assert body["state"] == "pending" and body["ready"] is False  # replicas to start
    assert counters(api, "ha") == (2, 2, 0, False)
    ready = wait_branch_ready(api, "ha", "dev")
    assert ready["has_replicas"] is True and len(ready["servers"]) == 3
    assert len(fake.running[ready["id"]].ports) == 3
    assert names(api, "ha", production="true") == ["main", "dev"]

    # promoting a production branch changes nothing
    again = api.post(f"{branch_path('ha', 'dev')}/promote").json()
    assert again["production"] is True and again["state"] == "ready"

    demoted = api.post(f"{branch_path('ha', 'dev')}/demote")
    assert demoted.status_code == 200, demoted.text
    body = demoted.json()
    assert_matches_spec("demote_branch", 200, body)
    assert body["production"] is False and body["replicas"] == 0
    assert body["state"] == "pending"
    assert counters(api, "ha") == (2, 1, 1, False)
    ready = wait_branch_ready(api, "ha", "dev")
    assert ready["has_replicas"] is False and len(ready["servers"]) == 1


def test_promote_without_replicas_stays_ready(api: TestClient) -> None:
    ready_db(api, "shop")
    ready_branch(api, "shop", "dev")
    body = api.post(f"{branch_path('shop', 'dev')}/promote").json()
    assert body["production"] is True and body["state"] == "ready" and body["replicas"] == 0


def test_demote_refusals(api: TestClient) -> None:
    ready_db(api, "shop")
    only = api.post(f"{branch_path('shop')}/demote")
    assert_error(only, *E422)
    assert "only production branch" in only.json()["message"]
    ready_branch(api, "shop", "other")
    api.post(f"{branch_path('shop', 'other')}/promote")
    default = api.post(f"{branch_path('shop')}/demote")
    assert_error(default, *E422)
    assert "default branch" in default.json()["message"]
    assert get_branch(api, "shop")["production"] is True
    assert counters(api, "shop") == (2, 2, 0, False)
    # once another production branch is the default, main may go
    api.patch(db_path("shop"), json={"default_branch": "other"})
    assert api.post(f"{branch_path('shop')}/demote").json()["production"] is False
    assert counters(api, "shop") == (2, 1, 1, False)
    assert_error(api.post(f"{branch_path('shop', 'other')}/demote"), *E422)


# --- list filters and order ----------------------------------------------------------------


@pytest.fixture(scope="module")
def listing() -> Iterator[TestClient]:
    """shop: main, alpha (safe migrations), beta_1, alpha-two, gamma (production), in order."""
    with installation() as (client, _):
        ready_db(client, "shop")
        for name in ("alpha", "beta_1", "alpha-two", "gamma"):
            ready_branch(client, "shop", name)
        assert client.post(f"{branch_path('shop', 'alpha')}/safe-migrations").status_code == 200
        assert client.post(f"{branch_path('shop', 'gamma')}/promote").status_code == 200
        yield client


@pytest.mark.parametrize(
    "params,expected",
    [
        ({}, ["main", "alpha", "beta_1", "alpha-two", "gamma"]),
        ({"order": "asc"}, ["main", "alpha", "beta_1", "alpha-two", "gamma"]),
        ({"order": "desc"}, ["gamma", "alpha-two", "beta_1", "alpha", "main"]),
        ({"q": "alp"}, ["alpha", "alpha-two"]),
        ({"q": "ALP"}, ["alpha", "alpha-two"]),  # names are lowercase: any case finds them
        ({"q": "_"}, ["beta_1"]),  # not a LIKE wildcard
        ({"q": "%"}, []),
        ({"q": "nothing"}, []),
        ({"production": "true"}, ["main", "gamma"]),
        ({"production": "false"}, ["alpha", "beta_1", "alpha-two"]),
        ({"safe_migrations": "true"}, ["alpha"]),
        ({"safe_migrations": "false"}, ["main", "beta_1", "alpha-two", "gamma"]),
        ({"q": "a", "production": "false", "order": "desc"}, ["alpha-two", "beta_1", "alpha"]),
        ({"q": "alpha", "safe_migrations": "false"}, ["alpha-two"]),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else "",
)
def test_list_filters(listing: TestClient, params: dict[str, str], expected: list[str]) -> None:
    assert names(listing, "shop", **params) == expected
    total = listing.get(branches_path("shop"), params=params).json()["total_count"]
    assert total == len(expected)


def test_list_filters_page(listing: TestClient) -> None:
    first = listing.get(branches_path("shop"), params={"per_page": 2, "order": "desc"}).json()
    assert [b["name"] for b in first["data"]] == ["gamma", "alpha-two"]
    assert first["total_count"] == 5 and first["next_page"] == 2
    assert "order=desc" in first["next_page_url"]
    second = listing.get(first["next_page_url"]).json()
    assert [b["name"] for b in second["data"]] == ["beta_1", "alpha"]
    filtered = listing.get(
        branches_path("shop"), params={"per_page": 1, "production": "false"}
    ).json()
    assert filtered["total_count"] == 3 and "production=false" in filtered["next_page_url"]


@pytest.mark.parametrize(
    "params", [{"order": "sideways"}, {"production": "maybe"}, {"safe_migrations": "2"}]
)
def test_list_filter_values_are_checked(listing: TestClient, params: dict[str, str]) -> None:
    assert_error(listing.get(branches_path("shop"), params=params), *E422)


# --- safe migrations ---------------------------------------------------------------------------


def test_safe_migrations_toggles(api: TestClient, fake: FakeProvisioner) -> None:
    ready_db(api, "shop")
    dev = ready_branch(api, "shop", "dev")  # no credentials on it
    url = f"{branch_path('shop', 'dev')}/safe-migrations"
    assert dev["safe_migrations"] is False

    steps: list[tuple[str, Any, bool, str]] = [
        ("POST", None, True, "enable_safe_migrations"),
        ("POST", None, True, "enable_safe_migrations"),  # again: still on
        ("PUT", {"safe_migrations": False}, False, "update_safe_migrations"),
        ("PUT", {"safe_migrations": True}, True, "update_safe_migrations"),
        ("DELETE", None, False, "disable_safe_migrations"),
    ]
    for method, body, on, op in steps:
        started = time.monotonic()
        kwargs = {"json": body} if body is not None else {}
        response = api.request(method, url, **kwargs)
        took = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert_matches_spec(op, 200, response.json())
        assert response.json()["safe_migrations"] is on  # the response shows the new value
        assert fake.safe_migrations[dev["id"]] is on  # the servers were told before it answered
        # it must not sit out the whole settle timeout (10 s) waiting for a signal
        assert took < 8.0, f"{method} took {took:.1f} s: it waited for nothing"
        assert get_branch(api, "shop", "dev")["safe_migrations"] is on
    assert names(api, "shop", safe_migrations="true") == []
    assert fake.safe_migrations.get(get_branch(api, "shop")["id"]) in (None, False)


def test_safe_migrations_body_is_checked(api: TestClient) -> None:
    ready_db(api, "shop")
    url = f"{branch_path('shop')}/safe-migrations"
    for body in ({}, {"safe_migrations": "yes"}, {"safe_migrations": None}):
        assert_error(api.put(url, json=body), *E422)
    assert_error(api.put(url, json=[True]), *E400)
    assert get_branch(api, "shop")["safe_migrations"] is False
    assert_error(api.post(f"{branch_path('shop', 'nope')}/safe-migrations"), *E404)


# --- schema, lint, refresh ---------------------------------------------------------------------


def test_schema_of_a_mysql_branch(api: TestClient, fake: FakeProvisioner) -> None:
    ready_db(api, "shop")
    main_id = get_branch(api, "shop")["id"]
    raw = "CREATE TABLE `t` (\n  `a` int NOT NULL DEFAULT 1 CHECK (`a` < 5 AND `a` > 0)\n)"
    fake.schemas[main_id] = [table("t", raw=raw), table("u")]
    url = f"{branch_path('shop')}/schema"
    response = api.get(url)
    assert response.status_code == 200, response.text
    assert_matches_spec("get_branch_schema", 200, response.json())
    data = response.json()["data"]
    assert [t["name"] for t in data] == ["t", "u"] and data[0]["raw"] == raw
    html = data[0]["html"]
    assert "&lt; 5" in html and "&gt; 0" in html and "< 5" not in html
    assert "<script" not in html
    fake.schemas[main_id] = [table("x", raw="CREATE TABLE x (a text DEFAULT '<script>')")]
    escaped = api.get(url).json()["data"][0]["html"]
    assert "&lt;script&gt;" in escaped and "<script>" not in escaped
    # keyspace: the database's schema name, or nothing
    assert [t["name"] for t in api.get(url, params={"keyspace": "shop"}).json()["data"]] == ["x"]
    assert api.get(url, params={"keyspace": "other"}).json()["data"] == []
    assert [t["name"] for t in api.get(url, params={"namespace": "x"}).json()["data"]] == ["x"]


def test_schema_of_a_postgresql_branch(api: TestClient, fake: FakeProvisioner) -> None:
    ready_db(api, "pgdb", "postgresql")
    main_id = get_branch(api, "pgdb")["id"]
    fake.schemas[main_id] = [
        table("users", namespace="public", raw="CREATE TABLE public.users (id int)"),
        table("invoices", namespace="billing", raw="CREATE TABLE billing.invoices (id int)"),
    ]
    url = f"{branch_path('pgdb')}/schema"

    def shown(**params: str) -> list[str]:
        response = api.get(url, params=params)
        assert response.status_code == 200, response.text
        assert_matches_spec("get_branch_schema", 200, response.json())
        return [t["name"] for t in response.json()["data"]]

    assert shown() == ["invoices", "users"]  # sorted by namespace, then name
    assert shown(namespace="public") == ["users"]
    assert shown(namespace="postgres.billing") == ["invoices"]
    assert shown(namespace="nothing") == []
    assert shown(keyspace="whatever") == ["invoices", "users"]


def test_schema_changes_reach_the_counters(api: TestClient, fake: FakeProvisioner) -> None:
    ready_db(api, "shop")
    ready_branch(api, "shop", "dev")
    main_id = get_branch(api, "shop")["id"]
    dev_id = get_branch(api, "shop", "dev")["id"]
    assert database(api, "shop")["default_branch_table_count"] == 0
    assert database(api, "shop")["schema_last_updated_at"] is None
    assert get_branch(api, "shop")["schema_last_updated_at"] is None

    fake.schemas[main_id] = [table("a")]
    api.get(f"{branch_path('shop')}/schema")
    first = database(api, "shop")
    assert first["default_branch_table_count"] == 1 and first["schema_last_updated_at"]
    branch_first = get_branch(api, "shop")["schema_last_updated_at"]
    assert branch_first == first["schema_last_updated_at"]

    time.sleep(0.01)
    api.get(f"{branch_path('shop')}/schema")  # read again, nothing changed
    assert database(api, "shop")["schema_last_updated_at"] == first["schema_last_updated_at"]

    fake.schemas[main_id] = [table("a"), table("b")]
    api.get(f"{branch_path('shop')}/schema/lint")  # lint reads the schema afresh too
    second = database(api, "shop")
    assert second["default_branch_table_count"] == 2
    assert second["schema_last_updated_at"] > first["schema_last_updated_at"]
    assert get_branch(api, "shop")["schema_last_updated_at"] > branch_first

    # a development branch's tables are not the database's
    fake.schemas[dev_id] = [table("c"), table("d"), table("e")]
    refreshed = api.post(f"{branch_path('shop', 'dev')}/refresh-schema")
    assert refreshed.status_code == 200, refreshed.text
    assert_matches_spec("get_branch", 200, refreshed.json())  # it answers with the branch
    assert refreshed.json()["name"] == "dev" and refreshed.json()["schema_last_updated_at"]
    third = database(api, "shop")
    assert third["default_branch_table_count"] == 2
    assert third["schema_last_updated_at"] == second["schema_last_updated_at"]

    # refresh-schema on the default branch: the database follows
    fake.schemas[main_id] = []
    before = get_branch(api, "shop")["schema_last_updated_at"]
    time.sleep(0.01)
    after = api.post(f"{branch_path('shop')}/refresh-schema").json()["schema_last_updated_at"]
    assert after > before
    assert database(api, "shop")["default_branch_table_count"] == 0


def lint_codes(client: TestClient, db: str) -> list[tuple[str, str]]:
    response = client.get(f"{branch_path(db)}/schema/lint", params={"per_page": 100})
    assert response.status_code == 200, response.text
    assert_matches_spec("lint_branch_schema", 200, response.json())
    return sorted((e["lint_error"], e["table_name"]) for e in response.json()["data"])


def test_lint_of_mysql_tables(api: TestClient, fake: FakeProvisioner) -> None:
    ready_db(api, "shop")
    main_id = get_branch(api, "shop")["id"]
    fake.schemas[main_id] = [table("clean")]
    assert lint_codes(api, "shop") == []
    fake.schemas[main_id] = [
        table("clean"),
        table("nokey", unique_keys=(), strict_unique_keys=()),
        # a unique key on a NULL-able column is no row identity
        table("nullable", columns=(("id", "bigint", True),), strict_unique_keys=()),
        table("latin", charset="latin2"),
        table("myisam", engine="MyISAM"),
        table("blobkey", columns=(("id", "bigint", False), ("body", "text", False)),
              unique_keys=(("id",), ("body",))),
    ]  # fmt: skip
    assert lint_codes(api, "shop") == [
        ("BLOB_IN_UNIQUE_KEY", "blobkey"),
        ("INVALID_CHARSET", "latin"),
        ("NO_UNIQUE_KEY", "nokey"),
        ("NO_UNIQUE_KEY", "nullable"),
        ("UNSUPPORTED_ENGINE", "myisam"),
    ]
    errors = api.get(f"{branch_path('shop')}/schema/lint").json()["data"]
    by_code = {e["lint_error"]: e for e in errors}
    assert by_code["INVALID_CHARSET"]["charset_name"] == "latin2"
    assert by_code["UNSUPPORTED_ENGINE"]["engine_name"] == "MyISAM"
    assert by_code["BLOB_IN_UNIQUE_KEY"]["column_name"] == "body"
    assert all(e["keyspace_name"] == "shop" and e["docs_url"].startswith("https://")
               for e in errors)  # fmt: skip
    page = api.get(f"{branch_path('shop')}/schema/lint", params={"per_page": 2}).json()
    assert len(page["data"]) == 2 and page["next_page"] == 2


def test_lint_of_postgresql_tables(api: TestClient, fake: FakeProvisioner) -> None:
    ready_db(api, "pgdb", "postgresql")
    main_id = get_branch(api, "pgdb")["id"]
    fake.schemas[main_id] = [
        table("ok", namespace="public", charset=None, engine=None),
        table("nokey", namespace="public", strict_unique_keys=(), unique_keys=(), charset=None,
              engine=None),
        # MySQL-only rules do not apply
        table("odd", namespace="app", charset="latin2", engine="heap",
              columns=(("id", "bigint", False), ("body", "text", False)),
              unique_keys=(("id",), ("body",))),
    ]  # fmt: skip
    assert lint_codes(api, "pgdb") == [("NO_UNIQUE_KEY", "public.nokey")]
