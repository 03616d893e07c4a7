"""Passwords and roles after creation: update, renew, reset, reassign, delete with a
successor, and the default role, with what the fake provisioner was told."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from moonbase.ids import utcnow
from moonbase.models import Credential
from moonbase.provisioners.base import CredentialPlan
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

SHOP_PW = f"{branch_path('shop')}/passwords"
PG_ROLES = f"{branch_path('pgdb')}/roles"
E422, E400, E404 = (422, "unprocessable"), (400, "bad_request"), (404, "not_found")
STILL_REFERENCED = "Role is still referenced and cannot be dropped."


class World:
    """One installation for the module: shop (mysql) and pgdb (postgresql), both ready.
    Every test makes the credentials it changes."""

    def __init__(self, client: TestClient, fake: FakeProvisioner) -> None:
        self.client = client
        self.fake = fake
        self.shop_id = get_branch(client, "shop")["id"]
        self.pg_id = get_branch(client, "pgdb")["id"]

    def password(self, **body: Any) -> dict[str, Any]:
        response = self.client.post(SHOP_PW, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def role(self, **body: Any) -> dict[str, Any]:
        response = self.client.post(PG_ROLES, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def on_server(self, branch_id: str, username: str) -> CredentialPlan | None:
        """The login as the fake provisioner last applied it (None: not there)."""
        return self.fake.credentials.get(branch_id, {}).get(username)

    def set_expiry(self, credential_id: str, when: datetime) -> None:
        with store(self.client.app).tx() as s:
            s.execute(update(Credential).where(Credential.id == credential_id)
                      .values(expires_at=when))  # fmt: skip


@pytest.fixture(scope="module")
def w() -> Iterator[World]:
    with installation() as (client, fake):
        ready_db(client, "shop")
        ready_db(client, "pgdb", "postgresql")
        yield World(client, fake)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


# --- passwords: update ---------------------------------------------------------------------


def test_update_password_name_and_cidrs(w: World) -> None:
    pw = w.password(name="app")
    url = f"{SHOP_PW}/{pw['id']}"
    response = w.client.patch(url, json={"name": "app-renamed"})
    assert response.status_code == 200, response.text
    assert_matches_spec("update_password", 200, response.json())
    assert response.json()["name"] == "app-renamed" and response.json()["cidrs"] is None

    # normalised: host bits cleared, duplicates dropped, order kept
    cidrs = ["10.1.2.3/8", "192.168.7.0/24", "10.0.0.0/8", "172.16.5.4/32"]
    body = w.client.patch(url, json={"cidrs": cidrs}).json()
    assert body["cidrs"] == ["10.0.0.0/8", "192.168.7.0/24", "172.16.5.4/32"]
    assert body["name"] == "app-renamed"  # untouched when not given
    login = w.on_server(w.shop_id, pw["username"])  # applied before the answer
    assert login is not None and login.cidrs == ("10.0.0.0/8", "192.168.7.0/24", "172.16.5.4/32")
    assert w.client.get(url).json()["cidrs"] == body["cidrs"]

    # an empty list: from anywhere again
    cleared = w.client.patch(url, json={"cidrs": []}).json()
    assert cleared["cidrs"] is None
    login = w.on_server(w.shop_id, pw["username"])
    assert login is not None and login.cidrs == ()


@pytest.mark.parametrize(
    "body",
    [
        {"cidrs": ["2001:db8::/32"]},
        {"cidrs": ["10.0.0.0/8", "::1/128"]},
        {"cidrs": ["garbage"]},
        {"cidrs": ["10.0.0.0/33"]},
        {"cidrs": ["300.1.1.1/32"]},
        {"cidrs": [""]},
        {"cidrs": "10.0.0.0/8"},
        {"cidrs": [10]},
        {"name": ""},
        {"name": "n" * 256},
        {"name": 5},
    ],
    ids=lambda b: repr(b)[:40],
)
def test_update_password_refusals_change_nothing(w: World, body: dict[str, Any]) -> None:
    pw = w.password(name="kept", cidrs=["10.0.0.0/8"])
    before = w.on_server(w.shop_id, pw["username"])
    url = f"{SHOP_PW}/{pw['id']}"
    assert_error(w.client.patch(url, json=body), *E422)
    after = w.client.get(url).json()
    assert after["name"] == "kept" and after["cidrs"] == ["10.0.0.0/8"]
    assert w.on_server(w.shop_id, pw["username"]) == before


def test_update_unknown_password(w: World) -> None:
    assert_error(w.client.patch(f"{SHOP_PW}/abcdefghijkl", json={"name": "x"}), *E404)
    role = w.role()
    assert_error(
        w.client.patch(f"{branch_path('pgdb')}/passwords/{role['id']}", json={"name": "x"}),
        *E404,
    )


# --- renew (passwords and roles) ------------------------------------------------------------


def test_renew_password(w: World) -> None:
    plain = w.password()
    assert_error(w.client.post(f"{SHOP_PW}/{plain['id']}/renew"), *E422)

    timed = w.password(ttl=3600)
    w.set_expiry(timed["id"], utcnow() + timedelta(seconds=10))
    response = w.client.post(f"{SHOP_PW}/{timed['id']}/renew")
    assert response.status_code == 200, response.text
    assert_matches_spec("renew_password", 200, response.json())
    renewed = response.json()
    assert _when(renewed["expires_at"]) > utcnow() + timedelta(seconds=3500)
    assert renewed["expired"] is False and renewed["renewable"] is True

    # once expired it is gone from the server and cannot come back
    w.set_expiry(timed["id"], utcnow() - timedelta(seconds=1))
    w.client.post(f"{SHOP_PW}/abcdefghijkl/renew")  # any request: wake the reconciler
    wait_until(lambda: w.on_server(w.shop_id, timed["username"]) is None, what="expiry")
    assert_error(w.client.post(f"{SHOP_PW}/{timed['id']}/renew"), *E422)
    assert w.client.get(f"{SHOP_PW}/{timed['id']}").json()["expired"] is True


def test_renew_role(w: World) -> None:
    plain = w.role()
    assert_error(w.client.post(f"{PG_ROLES}/{plain['id']}/renew"), *E422)
    timed = w.role(ttl=600)
    w.set_expiry(timed["id"], utcnow() + timedelta(seconds=5))
    response = w.client.post(f"{PG_ROLES}/{timed['id']}/renew")
    assert response.status_code == 200, response.text
    assert_matches_spec("renew_role", 200, response.json())
    assert _when(response.json()["expires_at"]) > utcnow() + timedelta(seconds=500)
    w.set_expiry(timed["id"], utcnow() - timedelta(seconds=1))
    assert_error(w.client.post(f"{PG_ROLES}/{timed['id']}/renew"), *E422)
    assert_error(w.client.post(f"{PG_ROLES}/abcdefghijkl/renew"), *E404)


# --- roles: update, reset, reassign ------------------------------------------------------------


def test_update_role(w: World) -> None:
    role = w.role(name="etl")
    url = f"{PG_ROLES}/{role['id']}"
    response = w.client.patch(url, json={"name": "etl-2", "require_where_on_delete": "off",
                                         "require_where_on_update": "off"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert_matches_spec("update_role", 200, response.json())
    assert response.json()["name"] == "etl-2"
    for field in ("require_where_on_delete", "require_where_on_update"):
        for value in ("on", "warn", "error"):
            assert_error(w.client.patch(url, json={field: value, "name": "x"}), *E422)
    assert w.client.get(url).json()["name"] == "etl-2"
    assert w.client.get(url).json()["query_safety_settings"] == {
        "require_where_on_delete": "off", "require_where_on_update": "off"}  # fmt: skip
    assert_error(w.client.patch(url, json={"name": ""}), *E422)


def test_reset_role_gives_a_new_password(w: World) -> None:
    role = w.role(name="app")
    old = w.on_server(w.pg_id, role["username"])
    assert old is not None
    response = w.client.post(f"{PG_ROLES}/{role['id']}/reset")
    assert response.status_code == 200, response.text
    assert_matches_spec("reset_role", 200, response.json())
    body = response.json()
    assert body["password"].startswith("pscale_pw_") and body["password"] != role["password"]
    assert body["username"] == role["username"] and body["ready"] is True
    new = w.on_server(w.pg_id, role["username"])
    assert new is not None and new.verifier != old.verifier  # the server got a new verifier
    assert body["password"] not in new.verifier
    assert w.client.get(f"{PG_ROLES}/{role['id']}").json()["password"] == ""  # shown once


def test_reassign_role_objects(w: World) -> None:
    owner, heir = w.role(name="owner"), w.role(name="heir")
    owned = w.fake.owned.setdefault(w.pg_id, {})
    owned[owner["username"]] = 3
    url = f"{PG_ROLES}/{owner['id']}/reassign"
    response = w.client.post(url, json={"successor": heir["id"]})  # by id
    assert response.status_code == 204 and response.content == b""
    assert owner["username"] not in owned and owned[heir["username"]] == 3

    owned[owner["username"]] = 2
    before = owned.get("postgres", 0)
    assert w.client.post(url, json={"successor": "postgres"}).status_code == 204
    assert owned["postgres"] == before + 2 and owner["username"] not in owned

    owned[owner["username"]] = 1
    for body in ({}, {"successor": ""}, {"successor": "nobody"}, {"successor": owner["id"]},
                 {"successor": owner["username"]}):  # fmt: skip
        assert_error(w.client.post(url, json=body), *E422)
    assert owned[owner["username"]] == 1  # nothing moved
    assert_error(w.client.post(url, json=[]), *E400)


# --- delete with a successor -------------------------------------------------------------------


def test_delete_role_that_owns_objects(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    drops: list[tuple[str, str | None]] = []
    drop_owned = w.fake.drop_owned

    def recorded(plan: Any, username: str, successor: str | None) -> None:
        drops.append((username, successor))
        drop_owned(plan, username, successor)

    monkeypatch.setattr(w.fake, "drop_owned", recorded)
    role = w.role(name="busy")
    url = f"{PG_ROLES}/{role['id']}"
    w.fake.owned.setdefault(w.pg_id, {})[role["username"]] = 4

    refused = w.client.delete(url)
    assert_error(refused, *E422)
    assert refused.json()["message"] == STILL_REFERENCED
    assert w.client.get(url).status_code == 200  # still there, still listed
    listed = w.client.get(PG_ROLES, params={"per_page": 100}).json()["data"]
    assert role["id"] in [r["id"] for r in listed]
    assert w.on_server(w.pg_id, role["username"]) is not None

    assert_error(w.client.delete(url, params={"successor": "nobody"}), *E422)
    assert_error(w.client.delete(url, params={"successor": role["id"]}), *E422)
    assert w.client.get(url).status_code == 200

    assert drops == [(role["username"], None)]  # the refused ones never reached the server
    response = w.client.delete(url, params={"successor": "postgres"})
    assert response.status_code == 204, response.text
    assert_error(w.client.get(url), *E404)
    assert drops[-1] == (role["username"], "postgres")
    assert role["username"] not in w.fake.owned[w.pg_id]
    wait_until(lambda: w.on_server(w.pg_id, role["username"]) is None, what="the drop")


def test_delete_role_owning_nothing_needs_no_successor(w: World) -> None:
    role = w.role()
    assert w.client.delete(f"{PG_ROLES}/{role['id']}").status_code == 204
    assert_error(w.client.get(f"{PG_ROLES}/{role['id']}"), *E404)


# --- the default role ----------------------------------------------------------------------------


def test_default_role(w: World) -> None:
    response = w.client.get(f"{PG_ROLES}/default")
    assert response.status_code == 200, response.text
    assert_matches_spec("get_default_role", 200, response.json())
    default = response.json()
    assert default["default"] is True and default["username"] == "postgres"
    assert default["name"] == "postgres" and default["password"] == ""
    assert w.client.get(f"{PG_ROLES}/default").json()["id"] == default["id"]  # the same one
    listed = w.client.get(PG_ROLES, params={"per_page": 100}).json()["data"]
    assert default["id"] not in [r["id"] for r in listed]

    passwords = set()
    for _ in range(2):
        reset = w.client.post(f"{PG_ROLES}/reset-default")
        assert reset.status_code == 200, reset.text
        assert_matches_spec("reset_default_role", 200, reset.json())
        body = reset.json()
        assert body["id"] == default["id"] and body["password"].startswith("pscale_pw_")
        login = w.on_server(w.pg_id, "postgres")
        assert login is not None and login.verifier and body["password"] not in login.verifier
        passwords.add((body["password"], login.verifier))
    assert len(passwords) == 2 and len({v for _, v in passwords}) == 2

    assert_error(w.client.delete(f"{PG_ROLES}/{default['id']}"), *E422)
    assert w.client.get(f"{PG_ROLES}/default").status_code == 200


def test_default_role_is_for_postgresql(w: World) -> None:
    assert_error(w.client.get(f"{branch_path('shop')}/roles/default"), *E422)
    assert_error(w.client.post(f"{branch_path('shop')}/roles/reset-default"), *E422)
    assert_error(w.client.get(f"{branch_path('pgdb', 'nope')}/roles/default"), *E404)
