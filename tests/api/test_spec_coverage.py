"""Every implemented endpoint answers in the shape the PlanetScale spec declares.

The tour calls each operation (several states and variants where the body differs) and
validates every response with ``assert_matches_spec``; it then asserts it validated every
route of the app that has an ``operation_id``, so a new endpoint cannot escape validation.
The few operations outside the spec are held to the pieces of the spec they are made of
(``OUTSIDE_SPEC``).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from oauth_support import ALICE, REDIRECT, add_person, obtain_code, query, register
from sqlalchemy import select

from moonbase.api.access import BEYOND_SPEC
from moonbase.contract.facts import find_operation, load_facts, operation
from moonbase.models import Database
from moonbase.provisioners.fake import FakeProvisioner, PermanentFailure

from api_support import (
    ORG,
    assert_error,
    branch_path,
    db_path,
    implemented_operations,
    org_path,
    store,
    wait_branch_ready,
    wait_ready,
    wait_until,
)
from contract import assert_matches_spec, json_schema
from people_support import add_user, admin_user_id, user_token

#: operations that need no token (behaviour doc 6.1: "GET /regions needs no auth")
PUBLIC = {"list_public_regions"}
#: operations whose spec declares no 401 (create_oauth_token: 200, 403, 404, 422 and 500).
#: Moonbase answers them 401 without a token like every other operation; the body is its
#: usual error, only there is no declared status to hold it to.
NO_401_IN_SPEC = {"create_oauth_token"}


@dataclass(frozen=True)
class BodyOf:
    """The body of another operation (``None``: no body, the answer is 204)."""

    operation: str | None


@dataclass(frozen=True)
class ListOf:
    """The spec's list envelope (``list_service_tokens``'s) around items drawn as the
    ``property``'s items in ``operation``'s body; ``property`` None: items of no shape the
    spec draws anywhere (checked by the tour itself)."""

    operation: str
    property: str | None = None

    def validator(self) -> Draft202012Validator:
        schema = copy.deepcopy(json_schema("list_service_tokens", 200))
        items: Any = {"type": "object"}
        if self.property is not None:
            items = json_schema(self.operation, 200)["properties"][self.property]["items"]
        schema["properties"]["data"] = {"type": "array", "items": items}
        return Draft202012Validator(schema)


#: implemented operations the spec does not have (each documented in access.BEYOND_SPEC), and
#: the pieces of the spec their answers are made of, which they are held to instead
OUTSIDE_SPEC: dict[str, BodyOf | ListOf] = {
    "refresh_branch_schema": BodyOf("get_branch"),
    "diff_branch": BodyOf("get_branch_schema"),
    # pscale's access endpoints: the accesses as get_service_token shows them
    "list_service_token_accesses": ListOf("get_service_token", "service_token_accesses"),
    "add_service_token_accesses": ListOf("get_service_token", "service_token_accesses"),
    "delete_service_token_accesses": BodyOf(None),
    # planetscale-go's grants (accesses grouped by resource): a shape the spec lacks
    "list_service_token_grants": ListOf("get_service_token"),
}


def _assert_outside_shape(op: str, status: int, body: Any) -> None:
    shape = OUTSIDE_SPEC[op]
    if isinstance(shape, BodyOf):
        if shape.operation is None:
            assert status == 204 and body is None, (op, status, body)
        else:
            assert_matches_spec(shape.operation, status, body)
        return
    assert status == 200, (op, status)
    problems = [
        f"{list(e.absolute_path)}: {e.message}" for e in shape.validator().iter_errors(body)
    ]
    assert not problems, f"{op}: " + "; ".join(problems[:10])


def _in_spec(op: str) -> bool:
    return op in load_facts()["operations"]


class Tour:
    """Calls operations and validates each response against the spec; remembers which."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.validated: dict[str, set[int]] = {}
        self.called_outside: set[str] = set()

    def call(self, op: str, method: str, url: str, status: int, **kwargs: Any) -> Any:
        matched = find_operation(method, url)
        if op in OUTSIDE_SPEC:
            assert matched is None, f"{method} {url} is {matched[0]} in the spec now"
        else:
            assert matched is not None and matched[0] == op, (
                f"{method} {url} is {matched and matched[0]} in the spec, not {op}"
            )
        response = self.client.request(method, url, **kwargs)
        assert response.status_code == status, (
            f"{op}: expected {status}, got {response.status_code}: {response.text}"
        )
        body = response.json() if response.content else None
        if op in OUTSIDE_SPEC:  # no facts: held to the pieces of the spec it is made of
            _assert_outside_shape(op, status, body)
            self.called_outside.add(op)
            return body
        assert_matches_spec(op, status, body)
        self.validated.setdefault(op, set()).add(status)
        return body


def test_implemented_routes_are_spec_operations(app: FastAPI) -> None:
    """Each route's method and path are those the spec gives its operation_id."""
    implemented = implemented_operations(app)
    assert len(implemented) >= 42
    outside = {op for op in implemented if not _in_spec(op)}
    assert outside == set(OUTSIDE_SPEC)
    assert set(BEYOND_SPEC) >= set(OUTSIDE_SPEC)
    refresh = "/v1/organizations/{organization}/databases/{database}/branches/{branch}"
    assert implemented["refresh_branch_schema"] == ("POST", f"{refresh}/refresh-schema")
    assert implemented["diff_branch"] == ("GET", f"{refresh}/diff")
    token = "/v1/organizations/{organization}/service-tokens/{id}"  # where pscale calls them
    assert implemented["list_service_token_accesses"] == ("GET", f"{token}/access")
    assert implemented["add_service_token_accesses"] == ("POST", f"{token}/access")
    assert implemented["delete_service_token_accesses"] == ("DELETE", f"{token}/access")
    assert implemented["list_service_token_grants"] == ("GET", f"{token}/grants")
    for op_id, (method, path) in implemented.items():
        if op_id in OUTSIDE_SPEC:
            continue
        spec = operation(op_id)
        assert method == spec["method"], (op_id, method, spec["method"])
        assert path == "/v1" + spec["path"], (op_id, path, spec["path"])


def test_every_endpoint_matches_the_spec(
    api: TestClient, app: FastAPI, fake: FakeProvisioner
) -> None:
    tour = Tour(api)
    org = org_path()

    # organizations, regions, cluster sizes
    orgs = tour.call("list_organizations", "GET", "/v1/organizations", 200)
    assert [o["name"] for o in orgs["data"]] == [ORG]
    tour.call("get_organization", "GET", org, 200)
    patched = tour.call(
        "update_organization", "PATCH", org, 200, json={"billing_email": "ops@acme.test"}
    )
    assert patched["billing_email"] == "ops@acme.test"
    tour.call("list_public_regions", "GET", "/v1/regions", 200)
    tour.call("list_regions_for_organization", "GET", f"{org}/regions", 200)
    for engine in ("mysql", "postgresql"):
        for rates in ("true", "false"):
            skus = tour.call(
                "list_cluster_size_skus",
                "GET",
                f"{org}/cluster-size-skus",
                200,
                params={"engine": engine, "rates": rates},
            )
            assert skus and all(("rate" in s) == (rates == "true") for s in skus)
            assert ("PS_5" in {s["name"] for s in skus}) == (engine == "postgresql")

    # databases: pending (as created) and ready, both kinds, with and without replicas
    created = tour.call(
        "create_database", "POST", f"{org}/databases", 201,
        json={"name": "shop", "cluster_size": "PS_10"},
    )  # fmt: skip
    assert created["kind"] == "mysql" and created["state"] == "pending"
    tour.call(
        "create_database", "POST", f"{org}/databases", 201,
        json={"name": "ha", "cluster_size": "PS_20", "replicas": 2},
    )  # fmt: skip
    tour.call(
        "create_database", "POST", f"{org}/databases", 201,
        json={"name": "pg", "cluster_size": "PS_5", "kind": "postgresql", "major_version": "15",
              "storage": {"minimum_storage_bytes": 1 << 30, "maximum_storage_bytes": 1 << 31}},
    )  # fmt: skip
    tour.call("list_databases", "GET", f"{org}/databases", 200)  # some still pending
    for name in ("shop", "ha", "pg"):
        wait_ready(api, name)
    listed = tour.call("list_databases", "GET", f"{org}/databases", 200)
    assert {d["name"] for d in listed["data"]} == {"shop", "ha", "pg"}
    assert tour.call("get_database", "GET", db_path("shop"), 200)["ready"] is True
    updated = tour.call(
        "update_database_settings", "PATCH", db_path("shop"), 200,
        json={"automatic_migrations": True, "migration_framework": "rails",
              "migration_table_name": "schema_migrations", "deletion_protected": False},
    )  # fmt: skip
    assert updated["automatic_migrations"] is True
    assert updated["migration_table_name"] == "schema_migrations"
    regions = tour.call("list_database_regions", "GET", f"{db_path('shop')}/regions", 200)
    assert [r["slug"] for r in regions["data"]] == [created["region"]["slug"]]
    tour.call("list_read_only_regions", "GET", f"{db_path('shop')}/read-only-regions", 200)

    # branches
    branches_url = f"{db_path('shop')}/branches"
    branches = tour.call("list_branches", "GET", branches_url, 200)
    assert [b["name"] for b in branches["data"]] == ["main"]
    main_ids = {}
    for name in ("shop", "pg"):
        branch = tour.call("get_branch", "GET", branch_path(name), 200)
        assert branch["production"] is True and branch["ready"] is True
        main_ids[name] = branch["id"]
    fake.schemas[main_ids["shop"]] = [
        {"name": "orders", "raw": "CREATE TABLE `orders` (\n  `id` bigint NOT NULL,\n  "
         "PRIMARY KEY (`id`)\n) ENGINE=InnoDB", "strict_unique_keys": [["id"]],
         "unique_keys": [["id"]], "columns": [["id", "bigint"]], "engine": "InnoDB",
         "charset": "utf8mb4"},
        {"name": "notes", "raw": "CREATE TABLE `notes` (`body` text) ENGINE=MyISAM",
         "strict_unique_keys": [], "unique_keys": [], "columns": [["body", "text"]],
         "engine": "MyISAM", "charset": "latin2"},
    ]  # fmt: skip
    fake.schemas[main_ids["pg"]] = [
        {"name": "users", "namespace": "public", "raw": "CREATE TABLE public.users (id int)",
         "strict_unique_keys": []},
    ]  # fmt: skip

    # a development branch: pending as created, then ready with its parent's schema
    dev = tour.call("create_branch", "POST", branches_url, 201, json={"name": "dev"})
    assert dev["state"] == "pending" and dev["production"] is False
    assert dev["parent_branch"] == "main"
    tour.call("get_branch", "GET", branch_path("shop", "dev"), 200)  # some still pending
    wait_branch_ready(api, "shop", "dev")
    tour.call(
        "create_branch", "POST", f"{db_path('pg')}/branches", 201,
        json={"name": "dev", "parent_branch": "main", "deletion_protected": True},
    )  # fmt: skip
    for params in ({"q": "de"}, {"production": "false", "safe_migrations": "false"},
                   {"order": "desc"}, {"production": "true", "order": "asc"}):  # fmt: skip
        tour.call("list_branches", "GET", branches_url, 200, params=params)
    renamed = tour.call(
        "update_branch", "PATCH", branch_path("shop", "dev"), 200,
        json={"new_name": "feature", "deletion_protected": True},
    )  # fmt: skip
    assert renamed["name"] == "feature" and renamed["deletion_protected"] is True
    feature = branch_path("shop", "feature")
    tour.call("update_branch", "PATCH", feature, 200, json={"deletion_protected": False})
    assert tour.call("promote_branch", "POST", f"{feature}/promote", 200)["production"] is True
    assert tour.call("demote_branch", "POST", f"{feature}/demote", 200)["production"] is False

    # safe migrations: on, set, off (on a production and a development branch)
    for url in (branch_path("shop"), feature):
        on = tour.call("enable_safe_migrations", "POST", f"{url}/safe-migrations", 200)
        assert on["safe_migrations"] is True
        put = tour.call(
            "update_safe_migrations", "PUT", f"{url}/safe-migrations", 200,
            json={"safe_migrations": False},
        )  # fmt: skip
        assert put["safe_migrations"] is False
        tour.call("update_safe_migrations", "PUT", f"{url}/safe-migrations", 200,
                  json={"safe_migrations": True})  # fmt: skip
        off = tour.call("disable_safe_migrations", "DELETE", f"{url}/safe-migrations", 200)
        assert off["safe_migrations"] is False

    # schema, lint, refresh (mysql and postgresql; empty and not)
    schema = tour.call("get_branch_schema", "GET", f"{branch_path('shop')}/schema", 200)
    assert [t["name"] for t in schema["data"]] == ["notes", "orders"]
    tour.call("get_branch_schema", "GET", f"{branch_path('shop')}/schema", 200,
              params={"keyspace": "shop"})  # fmt: skip
    tour.call("get_branch_schema", "GET", f"{branch_path('pg')}/schema", 200,
              params={"namespace": "public"})  # fmt: skip
    tour.call("get_branch_schema", "GET", f"{branch_path('ha')}/schema", 200)  # no tables
    lint = tour.call("lint_branch_schema", "GET", f"{branch_path('shop')}/schema/lint", 200)
    assert {e["lint_error"] for e in lint["data"]} == {
        "NO_UNIQUE_KEY", "INVALID_CHARSET", "UNSUPPORTED_ENGINE"}  # fmt: skip
    tour.call("lint_branch_schema", "GET", f"{branch_path('pg')}/schema/lint", 200)
    tour.call("lint_branch_schema", "GET", f"{branch_path('ha')}/schema/lint", 200)
    refreshed = tour.call(
        "refresh_branch_schema", "POST", f"{branch_path('shop')}/refresh-schema", 200
    )
    assert refreshed["name"] == "main"
    # the branch diff (pscale branch diff): nothing for a fresh copy, then the branch's changes
    assert tour.call("diff_branch", "GET", f"{feature}/diff", 200)["data"] == []
    feature_id = api.get(feature).json()["id"]
    extra = {"name": "extra", "raw": "CREATE TABLE extra (id int)", "strict_unique_keys": []}
    kept = [t for t in fake.schemas[feature_id] if t["name"] != "notes"]
    fake.schemas[feature_id] = [*kept, extra]
    diff = tour.call("diff_branch", "GET", f"{feature}/diff", 200)["data"]
    assert [(d["name"], d["raw"][0]) for d in diff] == [("extra", "+"), ("notes", "-")]
    assert tour.call("diff_branch", "GET", f"{branch_path('shop')}/diff", 200)["data"] == []
    tour.call("delete_branch", "DELETE", feature, 204)
    assert_error(api.get(feature), 404, "not_found")

    # MySQL passwords (plain, with ttl, replica reader on the HA database)
    pw_url = f"{branch_path('shop')}/passwords"
    pw = tour.call("create_password", "POST", pw_url, 201, json={"name": "app", "role": "writer"})
    assert pw["plain_text"] and pw["role"] == "writer"
    timed = tour.call("create_password", "POST", pw_url, 201, json={"ttl": 3600, "role": "reader"})
    replica = tour.call(
        "create_password", "POST", f"{branch_path('ha')}/passwords", 201,
        json={"replica": True, "role": "reader"},
    )  # fmt: skip
    assert replica["replica"] is True
    listed = tour.call("list_passwords", "GET", pw_url, 200)
    assert listed["total_count"] == 2
    got = tour.call("get_password", "GET", f"{pw_url}/{pw['id']}", 200)
    assert got["plain_text"] is None  # shown once, at creation
    changed = tour.call(
        "update_password", "PATCH", f"{pw_url}/{pw['id']}", 200,
        json={"name": "app-2", "cidrs": ["10.0.0.0/8"]},
    )  # fmt: skip
    assert changed["name"] == "app-2" and changed["cidrs"] == ["10.0.0.0/8"]
    renewed = tour.call("renew_password", "POST", f"{pw_url}/{timed['id']}/renew", 200)
    assert renewed["expires_at"] >= timed["expires_at"]
    tour.call("delete_password", "DELETE", f"{pw_url}/{pw['id']}", 204)
    assert_error(api.get(f"{pw_url}/{pw['id']}"), 404, "not_found")

    # PostgreSQL roles
    role_url = f"{branch_path('pg')}/roles"
    role = tour.call(
        "create_role", "POST", role_url, 200,
        json={"name": "etl", "inherited_roles": ["pg_read_all_data", "pg_write_all_data"]},
    )  # fmt: skip
    assert role["password"] and role["ready"] is True
    short = tour.call("create_role", "POST", role_url, 200, json={"ttl": 600})
    assert tour.call("list_roles", "GET", role_url, 200)["total_count"] == 2
    got = tour.call("get_role", "GET", f"{role_url}/{role['id']}", 200)
    assert got["password"] == "" and got["inherited_roles"] == role["inherited_roles"]
    named = tour.call("update_role", "PATCH", f"{role_url}/{role['id']}", 200,
                      json={"name": "etl-2"})  # fmt: skip
    assert named["name"] == "etl-2"
    tour.call("renew_role", "POST", f"{role_url}/{short['id']}/renew", 200)
    reset = tour.call("reset_role", "POST", f"{role_url}/{role['id']}/reset", 200)
    assert reset["password"] and reset["password"] != role["password"]
    tour.call("reassign_role_objects", "POST", f"{role_url}/{role['id']}/reassign", 204,
              json={"successor": "postgres"})  # fmt: skip
    default = tour.call("get_default_role", "GET", f"{role_url}/default", 200)
    assert default["default"] is True and default["username"] == "postgres"
    fresh = tour.call("reset_default_role", "POST", f"{role_url}/reset-default", 200)
    assert fresh["password"] and fresh["id"] == default["id"]
    tour.call("delete_role", "DELETE", f"{role_url}/{role['id']}", 204)
    assert_error(api.get(f"{role_url}/{role['id']}"), 404, "not_found")
    tour.call("delete_role", "DELETE", f"{role_url}/{short['id']}", 204,
              params={"successor": "postgres"})  # fmt: skip

    # webhooks (feature: webhooks per database); nothing listens on port 9: the test event's
    # delivery fails, which does not matter to the shapes checked here
    hooks = f"{db_path('shop')}/webhooks"
    hook = tour.call(
        "create_webhook", "POST", hooks, 201,
        json={"url": "http://127.0.0.1:9/tour", "events": ["deploy_request.opened"]},
    )  # fmt: skip
    tour.call("list_webhooks", "GET", hooks, 200)
    tour.call("get_webhook", "GET", f"{hooks}/{hook['id']}", 200)
    tour.call("update_webhook", "PATCH", f"{hooks}/{hook['id']}", 200, json={"enabled": False})
    tour.call("test_webhook", "POST", f"{hooks}/{hook['id']}/test", 204)
    tour.call("delete_webhook", "DELETE", f"{hooks}/{hook['id']}", 204)

    # deletion
    tour.call("delete_database", "DELETE", db_path("ha"), 204)
    assert_error(api.get(db_path("ha")), 404, "not_found")

    _organization_tour(tour, api, app)

    missing = set(implemented_operations(app)) - set(tour.validated) - tour.called_outside
    assert not missing, f"the tour validated no response of: {sorted(missing)}"
    assert tour.called_outside == set(OUTSIDE_SPEC)


def _organization_tour(tour: Tour, api: TestClient, app: FastAPI) -> None:
    """Service tokens, people and teams, OAuth applications, the audit log (after the tour
    above, which left databases shop and pg)."""
    org = org_path()

    # service tokens: made bare (pscale posts no body), then granted accesses
    tokens = f"{org}/service-tokens"
    made = tour.call("create_service_token", "POST", tokens, 200, json={"name": "ci", "ttl": 600})
    assert made["token"].startswith("pscale_tkn_") and made["expires_at"]
    bare = tour.call("create_service_token", "POST", tokens, 200)
    assert bare["name"] is None and bare["service_token_accesses"] == []
    token = f"{tokens}/{made['id']}"
    for database in (None, "shop", "gone"):
        if database == "gone":
            tour.call("create_database", "POST", f"{org}/databases", 201,
                      json={"name": "gone", "cluster_size": "PS_10"})  # fmt: skip
        body: dict[str, Any] = {"access": ["read_organization", "read_service_tokens"]}
        if database is not None:
            body = {"database": database, "access": ["read_database", "connect_branch"]}
        granted = tour.call("add_service_token_accesses", "POST", f"{token}/access", 200,
                            json=body)  # fmt: skip
        assert {a["access"] for a in granted["data"]} == set(body["access"])
    accesses = tour.call("list_service_token_accesses", "GET", f"{token}/access", 200)
    assert accesses["total_count"] == 6
    grants = tour.call("list_service_token_grants", "GET", f"{token}/grants", 200)
    assert [g["resource_name"] for g in grants["data"]] == [ORG, "gone", "shop"]
    tour.call("delete_service_token_accesses", "DELETE", f"{token}/access", 204,
              json={"database": "shop", "access": ["connect_branch"]})  # fmt: skip
    got = tour.call("get_service_token", "GET", token, 200)
    assert got["token"] is None and len(got["service_token_accesses"]) == 5
    # a database deleted and gone for good: the accesses on it are no longer shown
    tour.call("delete_database", "DELETE", db_path("gone"), 204)
    wait_until(lambda: _row_gone(app, "gone"), what="the deleted database's rows to go")
    got = tour.call("get_service_token", "GET", token, 200)
    assert {a["resource_name"] for a in got["service_token_accesses"]} == {ORG, "shop"}
    tour.call("list_service_tokens", "GET", tokens, 200)
    tour.call("list_service_token_accesses", "GET", f"{tokens}/{bare['id']}/access", 200)
    tour.call("delete_service_token", "DELETE", f"{tokens}/{bare['id']}", 204)

    # the current user: only behind an OAuth token issued to a person
    me = user_token(app, admin_user_id(app), ["user:read_user"])
    user = tour.call("get_current_user", "GET", "/v1/user", 200, headers=me)
    assert user["email"] == "admin@localhost"
    tour.call("get_current_user", "GET", "/v1/user", 404)  # a service token is no person

    # members
    members = f"{org}/members"
    ada, bob = add_user(app, "ada@example.com"), add_user(app, "bob@example.com")
    tour.call("list_organization_members", "GET", members, 200)
    tour.call("list_organization_members", "GET", members, 200, params={"q": "ada"})
    tour.call("get_organization_membership", "GET", f"{members}/{ada}", 200)
    promoted = tour.call("update_organization_membership", "PATCH", f"{members}/{ada}", 200,
                         json={"role": "admin"})  # fmt: skip
    assert promoted["role"] == "admin"
    as_bob = user_token(app, bob, ["organization:write_organization"])  # a member, no admin
    tour.call("update_organization_membership", "PATCH", f"{members}/{ada}", 403,
              json={"role": "member"}, headers=as_bob)  # fmt: skip

    # teams and their members
    teams = f"{org}/teams"
    team = tour.call("create_organization_team", "POST", teams, 200,
                     json={"name": "Ops Crew", "description": "on call"})  # fmt: skip
    crew = f"{teams}/{team['slug']}"
    tour.call("create_organization_team", "POST", teams, 422, json={"name": "ops crew"})
    tour.call("update_organization_team", "PATCH", crew, 200, json={"description": None})
    joined = tour.call("add_organization_team_member", "POST", f"{crew}/members", 200,
                       json={"user_id": ada})  # fmt: skip
    assert joined["user"]["id"] == ada
    tour.call("list_organization_team_members", "GET", f"{crew}/members", 200)
    assert [m["id"] for m in tour.call("get_organization_team", "GET", crew, 200)["members"]] == [
        ada
    ]
    tour.call("list_organization_teams", "GET", teams, 200)
    tour.call("list_organization_teams", "GET", teams, 200, params={"q": "ops"})
    tour.call("get_organization_team_member", "GET", f"{crew}/members/{ada}", 200)
    tour.call("remove_organization_team_member", "DELETE", f"{crew}/members/{ada}", 204)
    tour.call("delete_organization_team", "DELETE", crew, 204)
    tour.call("remove_organization_member", "DELETE", f"{members}/{bob}", 204)

    # OAuth applications and the tokens they are issued (a code from the consent pages)
    add_person(app, ALICE, "admin")
    client = register(app)
    apps = f"{org}/oauth-applications"
    tour.call("list_oauth_applications", "GET", apps, 200)
    tour.call("get_oauth_application", "GET", f"{apps}/{client.id}", 200)
    credentials = {"client_id": client.client_id, "client_secret": client.secret}
    issued = tour.call(
        "create_oauth_token", "POST", f"{apps}/{client.id}/token", 200,
        json={**credentials, "grant_type": "authorization_code",
              "code": obtain_code(api, query(client)), "redirect_uri": REDIRECT},
    )  # fmt: skip
    assert issued["token"] and issued["plain_text_refresh_token"]
    refreshed = tour.call(
        "create_oauth_token", "POST", f"{apps}/{client.id}/token", 200,
        json={**credentials, "grant_type": "refresh_token",
              "refresh_token": issued["plain_text_refresh_token"]},
    )  # fmt: skip
    assert refreshed["id"] == issued["id"] and refreshed["token"] != issued["token"]
    tour.call(
        "create_oauth_token", "POST", f"{apps}/{client.id}/token", 422,
        json={**credentials, "grant_type": "authorization_code", "code": "used-or-never-issued",
              "redirect_uri": REDIRECT},
    )  # fmt: skip
    tour.call("list_oauth_tokens", "GET", f"{apps}/{client.id}/tokens", 200)
    tour.call("get_oauth_token", "GET", f"{apps}/{client.id}/tokens/{issued['id']}", 200)
    tour.call("delete_oauth_token", "DELETE", f"{apps}/{client.id}/tokens/{issued['id']}", 204)

    # the audit log of all that: newest first, by cursor, filtered
    log = f"{org}/audit-log"
    first = tour.call("list_audit_logs", "GET", log, 200, params={"limit": 2})
    assert len(first["data"]) == 2 and first["has_next"] is True
    tour.call("list_audit_logs", "GET", log, 200,
              params={"limit": 2, "starting_after": first["cursor_end"]})  # fmt: skip
    event = first["data"][0]["audit_action"]  # oauth_token.deleted
    filtered = tour.call("list_audit_logs", "GET", log, 200,
                         params={"filters[]": f"audit_action:{event}"})  # fmt: skip
    assert filtered["data"] and {e["audit_action"] for e in filtered["data"]} == {event}
    tour.call("list_audit_logs", "GET", log, 200, params={"filters[]": "audit_action:nothing"})


def _row_gone(app: FastAPI, name: str) -> bool:
    with store(app).tx() as s:
        return s.scalar(select(Database.id).where(Database.name == name)) is None


def _concrete(path: str) -> str:
    values = {"organization": ORG, "database": "shop", "branch": "main", "id": "abcdefghijkl"}
    return re.sub(r"\{([^{}/]+)\}", lambda m: values.get(m.group(1), "x"), path)


def test_every_endpoint_requires_a_token(api: TestClient, app: FastAPI) -> None:
    """Without Authorization every operation but the public regions answers 401, with the
    body the spec declares for it (where the spec declares a 401: NO_401_IN_SPEC)."""
    no_401 = {
        op for op in implemented_operations(app)
        if _in_spec(op) and "401" not in operation(op)["responses"]
    }  # fmt: skip
    assert no_401 == NO_401_IN_SPEC
    checked = 0
    for op_id, (method, path) in implemented_operations(app).items():
        url = _concrete(path)
        kwargs: dict[str, Any] = {"headers": {"Authorization": ""}}
        if method in ("POST", "PATCH"):
            kwargs["json"] = {"name": "x", "cluster_size": "PS_10"}
        response = api.request(method, url, **kwargs)
        if op_id in PUBLIC:
            assert response.status_code == 200, (op_id, response.text)
            assert_matches_spec(op_id, 200, response.json())
            continue
        assert_error(response, 401, "unauthorized")
        if _in_spec(op_id) and op_id not in NO_401_IN_SPEC:
            assert_matches_spec(op_id, 401, response.json())
        checked += 1
    assert checked == len(implemented_operations(app)) - len(PUBLIC)


def test_database_and_branch_bodies_while_pending(api: TestClient, fake: FakeProvisioner) -> None:
    """A database whose server is not up yet is still a valid body, with ready false."""
    fake.failures.append(PermanentFailure("no binaries"))
    api.post(f"{org_path()}/databases", json={"name": "stuck", "cluster_size": "PS_10"})
    branch = wait_until(
        lambda: (b := api.get(branch_path("stuck")).json())["status"]["failure"] and b,
        what="the failure to be recorded",
    )
    assert_matches_spec("get_branch", 200, branch)
    assert branch["ready"] is False and branch["state"] == "pending"
    body = api.get(db_path("stuck")).json()
    assert_matches_spec("get_database", 200, body)
    assert body["ready"] is False and body["state"] == "pending"
