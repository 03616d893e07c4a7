"""Organizations are isolated tenants: for every operation under ``/organizations/{org}`` —
whatever resource kind it is about, including ones added later — another organization's
all-access token gets exactly the answer a name nobody uses gets, and changes nothing."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from moonbase.models import Base

from api_support import (
    ADMIN_ID,
    add_organization,
    assert_error,
    create_db,
    implemented_operations,
    org_path,
    store,
    wait_ready,
)
from people_support import add_user, user_token

#: the victim's data that must not change (rows as they are, minus bookkeeping columns)
WATCHED = ("organizations", "users", "memberships", "teams", "team_memberships", "databases",
           "branches", "credentials", "service_tokens", "service_token_accesses", "oauth_tokens",
           "webhooks")  # fmt: skip
#: columns the reconciler or authentication touch on their own
BOOKKEEPING = {"updated_at", "last_used_at", "lease_owner", "lease_until", "next_attempt_at",
               "attempts", "verdict", "state", "ready_at", "applied_at", "observed",
               "safe_migrations_applied", "schema_copied_at", "table_count",
               "schema_last_updated_at", "failure", "failed_permanently"}  # fmt: skip
NOWHERE = "no-such-org-zz"
BODY = {"name": "intruder", "cluster_size": "PS_10", "role": "admin", "description": "x",
        "url": "https://example.com/hook", "enabled": True, "accesses": ["read_database"],
        "inherited_roles": ["pg_read_all_data"], "successor": "postgres"}  # fmt: skip


def snapshot(app: FastAPI) -> dict[str, list[tuple[Any, ...]]]:
    found: dict[str, list[tuple[Any, ...]]] = {}
    with store(app).tx() as s:
        for name in WATCHED:
            table = Base.metadata.tables.get(name)
            if table is None:
                continue
            columns = [c for c in table.columns if c.name not in BOOKKEEPING]
            found[name] = sorted(map(tuple, s.execute(select(*columns))), key=repr)
    return found


def victim(api: TestClient, app: FastAPI) -> dict[str, str]:
    """acme with something of every kind; the values that fill its URLs."""
    ada = add_user(app, "ada@example.com")
    create_db(api, "shop")
    create_db(api, "pg", kind="postgresql")
    wait_ready(api, "shop")
    wait_ready(api, "pg")
    base = org_path()
    password = api.post(f"{base}/databases/shop/branches/main/passwords", json={"name": "p"})
    role = api.post(f"{base}/databases/pg/branches/main/roles", json={"name": "r"})
    team = api.post(f"{base}/teams", json={"name": "Ops"})
    member = api.post(f"{base}/teams/ops/members", json={"user_id": ada})
    for made in (password, role, team, member):
        assert made.status_code in (200, 201), made.text
    return {"ada": ada, "password": password.json()["id"], "role": role.json()["id"]}


def fill(path: str, org: str, ids: dict[str, str]) -> tuple[str, bool]:
    """A concrete URL, and whether every parameter named something that exists."""
    database = "pg" if "/roles" in path else "shop"
    by_parent = {"members": ids["ada"], "passwords": ids["password"], "roles": ids["role"],
                 "service-tokens": ADMIN_ID}  # fmt: skip
    known = True

    def value(match: re.Match[str]) -> str:
        nonlocal known
        name = match.group(1)
        if name == "id":
            parent = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
            if parent in by_parent:
                return by_parent[parent]
        fixed = {"organization": org, "database": database, "branch": "main", "team": "ops"}
        if name in fixed:
            return fixed[name]
        known = False
        return "x"

    return re.sub(r"\{([^{}/]+)\}", value, path), known


def test_every_organization_url_hides_other_organizations(api: TestClient, app: FastAPI) -> None:
    ids = victim(api, app)
    globex_id, globex = add_organization(app, "globex")
    # and an OAuth token of globex with every coarse scope
    globex_oauth = user_token(app, None, ["read_organization", "write_organization",
                                          "read_databases", "write_databases", "read_user"],
                              organization_id=globex_id)  # fmt: skip
    operations = {op: route for op, route in implemented_operations(app).items()
                  if route[1].startswith("/v1/organizations/{organization}")}  # fmt: skip
    assert len(operations) >= 60
    before = snapshot(app)

    checked = 0
    for op, (method, path) in sorted(operations.items()):
        url, _known = fill(path, "acme", ids)
        nowhere, _ = fill(path, NOWHERE, ids)
        kwargs: dict[str, Any] = {"json": BODY} if method in ("POST", "PATCH", "PUT") else {}
        for headers in (globex, globex_oauth):
            there = api.request(method, url, headers=headers, **kwargs)
            absent = api.request(method, nowhere, headers=headers, **kwargs)
            assert there.status_code in (400, 404, 422), (op, there.status_code, there.text)
            assert (there.status_code, there.json()["code"]) == (
                absent.status_code, absent.json()["code"],
            ), (op, there.text, absent.text)  # fmt: skip
            assert there.json()["message"].replace("acme", NOWHERE) == absent.json()["message"]
            checked += 1
    assert checked == 2 * len(operations)
    assert snapshot(app) == before

    # the URLs were real: acme's own token reads every one of them
    for op, (method, path) in sorted(operations.items()):
        url, known = fill(path, "acme", ids)
        if method == "GET" and known:
            assert api.get(url).status_code == 200, (op, api.get(url).text)


def test_lists_and_names_stay_within_the_organization(api: TestClient, app: FastAPI) -> None:
    victim(api, app)
    _, globex = add_organization(app, "globex")
    base = org_path("globex")
    assert [o["name"] for o in api.get("/v1/organizations", headers=globex).json()["data"]] == [
        "globex"
    ]
    for url in (f"{base}/databases", f"{base}/teams", f"{base}/members"):
        response = api.get(url, headers=globex)
        assert response.status_code == 200, response.text
        assert response.json()["data"] == [], url
    # the same names are free in every organization
    assert api.post(f"{base}/teams", json={"name": "Ops"}, headers=globex).status_code == 200
    made = api.post(f"{base}/databases", json={"name": "shop", "cluster_size": "PS_10"},
                    headers=globex)  # fmt: skip
    assert made.status_code == 201, made.text
    assert_error(api.get(f"{org_path()}/databases/shop", headers=globex), 404, "not_found")
    assert (
        api.get(f"{base}/databases/shop", headers=globex).json()["id"]
        != api.get(f"{org_path()}/databases/shop").json()["id"]
    )
