"""Passwords (MySQL) and roles (PostgreSQL): refusals write nothing; the accepted forms work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moonbase.models import Credential
from moonbase.provisioners.fake import FakeProvisioner

from api_support import (
    assert_error,
    branch_path,
    get_branch,
    installation,
    ready_db,
    store,
    wait_until,
)
from contract import assert_matches_spec

SHOP_PW = f"{branch_path('shop')}/passwords"  # mysql, no replicas
HA_PW = f"{branch_path('ha')}/passwords"  # mysql, 2 replicas
PG_ROLES = f"{branch_path('pgdb')}/roles"  # postgresql


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[TestClient, FakeProvisioner]]:
    with installation() as (client, fake):
        ready_db(client, "shop")
        ready_db(client, "ha", replicas=2)
        ready_db(client, "pgdb", "postgresql")
        yield client, fake


def _credential_rows(client: TestClient) -> int:
    with store(client.app).tx() as s:
        return s.scalar(select(func.count()).select_from(Credential)) or 0


def _totals(client: TestClient) -> dict[str, int]:
    urls = [SHOP_PW, HA_PW, PG_ROLES, f"{branch_path('shop')}/roles",
            f"{branch_path('pgdb')}/passwords"]  # fmt: skip
    out = {}
    for url in urls:
        response = client.get(url)
        out[url] = response.json()["total_count"] if response.status_code == 200 else -1
    return out


@pytest.fixture
def api(world: tuple[TestClient, FakeProvisioner]) -> Iterator[TestClient]:
    """The shared client; afterwards no credential was written or applied."""
    client, fake = world
    before = (_credential_rows(client), _totals(client), repr(fake.credentials))
    yield client
    after = (_credential_rows(client), _totals(client), repr(fake.credentials))
    assert after == before, "a refused request wrote or applied a credential"


#: expected (status, code) of the refusals
E422, E400, E404 = (422, "unprocessable"), (400, "bad_request"), (404, "not_found")

PASSWORD_REFUSALS: list[tuple[str, str, Any, int, str]] = [
    ("unknown role", SHOP_PW, {"role": "owner"}, *E422),
    ("role wrong case", SHOP_PW, {"role": "Admin"}, *E422),
    ("role a number", SHOP_PW, {"role": 1}, *E422),
    ("replica without replicas", SHOP_PW, {"replica": True, "role": "reader"}, *E422),
    ("replica with the writer role", HA_PW, {"replica": True, "role": "writer"}, *E422),
    ("replica a string", HA_PW, {"replica": "yes", "role": "reader"}, *E422),
    ("negative ttl", SHOP_PW, {"ttl": -1}, *E422),
    ("ttl over ten years", SHOP_PW, {"ttl": 10**10}, *E422),
    ("ttl a string", SHOP_PW, {"ttl": "60"}, *E422),
    ("empty name", SHOP_PW, {"name": ""}, *E422),
    ("name too long", SHOP_PW, {"name": "p" * 256}, *E422),
    ("cidr not a range", SHOP_PW, {"cidrs": ["not-a-cidr"]}, *E422),
    ("cidrs not a list", SHOP_PW, {"cidrs": "10.0.0.0/8"}, *E422),
    ("password on a postgresql database", f"{branch_path('pgdb')}/passwords", {}, *E422),
    ("body a JSON array", SHOP_PW, [{"role": "admin"}], *E400),
    ("unknown branch", f"{branch_path('shop', 'nope')}/passwords", {}, *E404),
    ("unknown database", f"{branch_path('nope')}/passwords", {}, *E404),
]  # fmt: skip

ROLE_REFUSALS: list[tuple[str, str, Any, int, str]] = [
    ("unknown inherited role", PG_ROLES, {"inherited_roles": ["superuser"]}, *E422),
    ("one bad inherited role among good ones", PG_ROLES,
     {"inherited_roles": ["pg_read_all_data", "pg_superpowers"]}, *E422),
    ("inherited_roles not a list", PG_ROLES, {"inherited_roles": "postgres"}, *E422),
    ("inherited_roles of numbers", PG_ROLES, {"inherited_roles": [5]}, *E422),
    ("negative ttl", PG_ROLES, {"ttl": -5}, *E422),
    ("ttl a string", PG_ROLES, {"ttl": "60"}, *E422),
    ("empty name", PG_ROLES, {"name": ""}, *E422),
    ("with_replication", PG_ROLES, {"with_replication": True}, *E422),
    ("role on a mysql database", f"{branch_path('shop')}/roles", {}, *E422),
    ("body a JSON array", PG_ROLES, [], *E400),
    ("unknown branch", f"{branch_path('pgdb', 'nope')}/roles", {}, *E404),
]  # fmt: skip


@pytest.mark.parametrize(
    "url,body,status,code",
    [c[1:] for c in PASSWORD_REFUSALS],
    ids=[c[0] for c in PASSWORD_REFUSALS],
)
def test_password_refusals(api: TestClient, url: str, body: Any, status: int, code: str) -> None:
    response = api.post(url, json=body)
    assert_error(response, status, code)
    if status == 422:
        assert_matches_spec("create_password", 422, response.json())  # declared by the spec


@pytest.mark.parametrize(
    "url,body,status,code", [c[1:] for c in ROLE_REFUSALS], ids=[c[0] for c in ROLE_REFUSALS]
)
def test_role_refusals(api: TestClient, url: str, body: Any, status: int, code: str) -> None:
    assert_error(api.post(url, json=body), status, code)


@pytest.mark.parametrize(
    "url", [f"{SHOP_PW}/abcdefghijkl", f"{PG_ROLES}/abcdefghijkl"], ids=["password", "role"]
)
def test_unknown_credential_is_not_found(api: TestClient, url: str) -> None:
    assert_error(api.get(url), 404, "not_found")
    assert_error(api.delete(url), 404, "not_found")


def test_a_role_id_is_not_a_password_id(
    world: tuple[TestClient, FakeProvisioner],
) -> None:
    """Ids are looked up per kind and per branch: a role is no password, and vice versa."""
    client, _ = world
    rows = _credential_rows(client)
    role = client.post(PG_ROLES, json={}).json()
    pw = client.post(SHOP_PW, json={}).json()
    assert_error(client.get(f"{branch_path('pgdb')}/passwords/{role['id']}"), 404, "not_found")
    assert_error(client.get(f"{branch_path('shop')}/roles/{pw['id']}"), 404, "not_found")
    assert_error(client.get(f"{HA_PW}/{pw['id']}"), 404, "not_found")  # another branch
    assert client.delete(f"{PG_ROLES}/{role['id']}").status_code == 204
    assert client.delete(f"{SHOP_PW}/{pw['id']}").status_code == 204
    # the reconciler drops the logins, then the rows
    wait_until(lambda: _credential_rows(client) == rows, what="deleted credentials to go")


# --- accepted forms -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["reader", "writer", "readwriter", "admin"])
def test_each_password_role_is_accepted_and_applied(
    world: tuple[TestClient, FakeProvisioner], role: str
) -> None:
    client, fake = world
    response = client.post(SHOP_PW, json={"role": role, "name": f"pw-{role}"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert_matches_spec("create_password", 201, body)
    assert body["role"] == role and body["name"] == f"pw-{role}" and body["replica"] is False
    assert body["plain_text"].startswith("pscale_pw_")
    branch_id = get_branch(client, "shop")["id"]
    applied = fake.credentials.get(branch_id, {}).get(body["username"])
    assert applied is not None and applied.role == role
    assert body["plain_text"] not in applied.verifier  # the server gets a verifier, not the text


def test_password_defaults(world: tuple[TestClient, FakeProvisioner]) -> None:
    client, _ = world
    body = client.post(SHOP_PW, json={}).json()
    assert body["role"] == "admin" and body["expires_at"] is None and body["ttl_seconds"] is None
    assert body["name"]
    zero = client.post(SHOP_PW, json={"ttl": 0}).json()  # 0: never expires
    assert zero["expires_at"] is None and zero["renewable"] is False
    timed = client.post(SHOP_PW, json={"ttl": 60}).json()
    assert timed["ttl_seconds"] == 60 and timed["expires_at"] and timed["renewable"] is True


def test_replica_password_on_a_branch_with_replicas(
    world: tuple[TestClient, FakeProvisioner],
) -> None:
    client, _ = world
    primary = client.post(HA_PW, json={"role": "reader"}).json()
    replica = client.post(HA_PW, json={"role": "reader", "replica": True}).json()
    assert replica["replica"] is True
    assert replica["access_host_url"] != primary["access_host_url"]  # a replica's port


def test_role_accepted_with_inherited_roles(world: tuple[TestClient, FakeProvisioner]) -> None:
    client, fake = world
    response = client.post(
        PG_ROLES, json={"name": "etl", "inherited_roles": ["pg_read_all_data", "postgres"]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_matches_spec("create_role", 200, body)
    branch_id = get_branch(client, "pgdb")["id"]
    assert body["username"].endswith(f".{branch_id}")
    assert body["base_username"] == body["username"].split(".")[0]
    assert body["inherited_roles"] == ["pg_read_all_data", "postgres"]
    applied = wait_until(lambda: fake.credentials.get(branch_id, {}).get(body["username"]))
    assert applied.inherited_roles == ("pg_read_all_data", "postgres")
    assert body["ready"] is True
