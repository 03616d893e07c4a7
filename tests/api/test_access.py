"""Who may do what: authentication, organizations, token accesses and OAuth scopes.

The access matrix is driven by the spec's facts, not by the implementation's table: for
every access (and every OAuth scope the implemented operations name), a token holding only
that one calls every operation, and must succeed exactly where the spec lists it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from moonbase.api.access import DATABASE_ACCESSES, NON_PRODUCTION, ORG_ACCESSES, RULES
from moonbase.contract.facts import load_facts, operation
from moonbase.ids import utcnow
from moonbase.models import Branch, Credential, Database, Organization
from moonbase.provisioners.fake import FakeProvisioner

from api_support import (
    ADMIN_ID,
    ORG,
    add_organization,
    assert_error,
    branch_path,
    create_db,
    db_id,
    grants_for,
    implemented_operations,
    installation,
    oauth_token,
    org_id,
    org_path,
    ready_db,
    service_token,
    store,
    wait_until,
)
from contract import assert_matches_spec

#: The spec's production / other-branch pairs of accesses: on a production branch only the
#: production member counts (behaviour doc 6.3, "Production vs non-production split").
PRODUCTION_SIBLING = {
    "connect_branch": "connect_production_branch",
    "delete_branch": "delete_production_branch",
    "delete_branch_password": "delete_production_branch_password",
    "create_branch_password": "create_production_branch_password",
    "delete_backups": "delete_production_branch_backups",
    "restore_backup": "restore_production_branch_backup",
    "write_branch_vschema": "write_production_branch_vschema",
}
#: the same for OAuth scopes (behaviour doc 6.4)
PRODUCTION_SIBLING_SCOPE = {
    "manage_passwords": "manage_production_branch_passwords",
    "manage_read_only_passwords": "manage_production_read_only_passwords",
    "delete_branches": "delete_production_branches",
    "delete_backups": "delete_production_branch_backups",
    "restore_backups": "restore_production_branch_backups",
}

PUBLIC = {"list_public_regions"}


def _success(op: str) -> int:
    codes = [int(c) for c in operation(op)["responses"] if c.startswith("2")]
    assert len(codes) == 1, (op, codes)
    return codes[0]


def _on_a_branch(op: str) -> bool:
    """Operations on one branch; every call below targets ``main``, a production branch."""
    return "{branch}" in operation(op)["path"]


def service_token_may(op: str, access: str) -> bool:
    listed = operation(op)["token_accesses"]
    if not listed:  # the spec names no access: any token of the organization
        return True
    if access not in listed:
        return False
    return not (_on_a_branch(op) and access in PRODUCTION_SIBLING)


def oauth_may(op: str, level: str, scope: str) -> bool:
    if scope not in operation(op)["oauth_scopes"].get(level, []):
        return False
    return not (_on_a_branch(op) and scope in PRODUCTION_SIBLING_SCOPE)


# --- the table cannot drift from the spec --------------------------------------------------


def test_access_table_matches_the_spec() -> None:
    for op, rule in RULES.items():
        facts = operation(op)
        assert set(rule.accesses) == set(facts["token_accesses"]), op
        assert len(rule.accesses) == len(set(rule.accesses)), f"{op}: duplicate accesses"
        rule_scopes = {lvl: set(names) for lvl, names in rule.scopes.items() if names}
        spec_scopes = {lvl: set(names) for lvl, names in facts["oauth_scopes"].items() if names}
        assert rule_scopes == spec_scopes, op
        assert rule.restricted == bool(facts["token_accesses"]), op


def test_access_and_scope_names_are_known() -> None:
    scope_names = set(load_facts()["oauth_scope_names"])
    known = set(ORG_ACCESSES) | set(DATABASE_ACCESSES)
    assert not set(ORG_ACCESSES) & set(DATABASE_ACCESSES)
    for op, rule in RULES.items():
        assert set(rule.accesses) <= known, op
        for level, names in rule.scopes.items():
            assert {f"{level}:{n}" for n in names} <= scope_names, op


def test_production_pairs_match_the_implementation() -> None:
    assert set(PRODUCTION_SIBLING) == NON_PRODUCTION & set(DATABASE_ACCESSES)
    for other, production in PRODUCTION_SIBLING.items():
        assert other in DATABASE_ACCESSES and production in DATABASE_ACCESSES
    for other in PRODUCTION_SIBLING_SCOPE:
        if other in NON_PRODUCTION:
            continue
        # a scope of a pair the implemented operations do not use yet
        assert not any(other in names for r in RULES.values() for names in r.scopes.values())


def test_every_protected_operation_has_a_rule(app: FastAPI) -> None:
    implemented = set(implemented_operations(app))
    assert implemented - PUBLIC <= set(RULES)
    assert set(RULES) <= set(load_facts()["operations"])


# --- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/v1/organizations", org_path(), f"{org_path()}/databases"])
def test_no_authorization_header(api: TestClient, url: str) -> None:
    del api.headers["Authorization"]
    assert_error(api.get(url), 401, "unauthorized")


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        "garbage",
        ADMIN_ID,
        f"{ADMIN_ID}:",
        ":pscale_tkn_test_admin_secret",
        f"{ADMIN_ID} pscale_tkn_test_admin_secret",
        f"Basic {ADMIN_ID}:pscale_tkn_test_admin_secret",
        f"Token {ADMIN_ID}:pscale_tkn_test_admin_secret",
        f"{ADMIN_ID.upper()}:pscale_tkn_test_admin_secret",
        f"{ADMIN_ID}:PSCALE_TKN_TEST_ADMIN_SECRET",
        "Bearer",
        "Bearer ",
        f"Bearer {ADMIN_ID}:pscale_tkn_test_admin_secret",
        "Bearer pscale_tkn_test_admin_secret",
    ],
)
def test_malformed_or_wrong_authorization(api: TestClient, header: str) -> None:
    assert_error(api.get(org_path(), headers={"Authorization": header}), 401, "unauthorized")


def test_wrong_secret_and_unknown_token(api: TestClient) -> None:
    for header in (f"{ADMIN_ID}:pscale_tkn_wrong", "nosuchtoken1:pscale_tkn_test_admin_secret"):
        assert_error(api.get(org_path(), headers={"Authorization": header}), 401, "unauthorized")
    assert api.get(org_path()).status_code == 200  # the right one works


def test_expired_service_token(api: TestClient, app: FastAPI) -> None:
    oid = org_id(app)
    everything = [(a, "Organization", oid) for a in (*ORG_ACCESSES, *DATABASE_ACCESSES)]
    expired = service_token(app, everything, expires_at=utcnow() - timedelta(seconds=1))
    valid = service_token(app, everything, expires_at=utcnow() + timedelta(hours=1))
    assert_error(api.get(org_path(), headers=expired), 401, "unauthorized")
    assert_error(api.get("/v1/organizations", headers=expired), 401, "unauthorized")
    assert api.get(org_path(), headers=valid).status_code == 200


def test_oauth_token_authentication(api: TestClient, app: FastAPI) -> None:
    scopes = ["organization:read_organization"]
    good = oauth_token(app, scopes)
    expired = oauth_token(app, scopes, expires_at=utcnow() - timedelta(seconds=1))
    assert api.get(org_path(), headers=good).status_code == 200
    lower = {"Authorization": good["Authorization"].replace("Bearer", "bearer")}
    assert api.get(org_path(), headers=lower).status_code == 200
    assert_error(api.get(org_path(), headers=expired), 401, "unauthorized")
    assert_error(api.get(org_path(), headers={"Authorization": "Bearer nope"}), 401, "unauthorized")


def test_public_regions_need_no_token(api: TestClient) -> None:
    del api.headers["Authorization"]
    response = api.get("/v1/regions")
    assert response.status_code == 200
    assert_matches_spec("list_public_regions", 200, response.json())


# --- organizations do not see each other ---------------------------------------------------


def test_organizations_are_invisible_to_each_other(api: TestClient, app: FastAPI) -> None:
    create_db(api, "shop")
    _, globex = add_organization(app, "globex")
    response = api.post(
        "/v1/organizations/globex/databases",
        json={"name": "gadgets", "cluster_size": "PS_10"},
        headers=globex,
    )
    assert response.status_code == 201, response.text

    def sees(headers: dict[str, str], org: str, db: str) -> list[int]:
        base = f"/v1/organizations/{org}"
        return [
            api.get(base, headers=headers).status_code,
            api.get(f"{base}/regions", headers=headers).status_code,
            api.get(f"{base}/cluster-size-skus", headers=headers).status_code,
            api.get(f"{base}/databases", headers=headers).status_code,
            api.get(f"{base}/databases/{db}", headers=headers).status_code,
            api.get(f"{base}/databases/{db}/branches", headers=headers).status_code,
            api.get(f"{base}/databases/{db}/branches/main", headers=headers).status_code,
            api.get(f"{base}/databases/{db}/branches/main/passwords", headers=headers).status_code,
        ]

    admin = dict(api.headers)
    assert sees(admin, ORG, "shop") == [200] * 8
    assert sees(globex, "globex", "gadgets") == [200] * 8
    assert sees(globex, ORG, "shop") == [404] * 8
    assert sees(admin, "globex", "gadgets") == [404] * 8

    # and neither can change the other's
    for headers, org, db in ((globex, ORG, "shop"), (admin, "globex", "gadgets")):
        base = f"/v1/organizations/{org}"
        assert_error(
            api.patch(base, json={"billing_email": "x@y.z"}, headers=headers), 404, "not_found"
        )
        assert_error(
            api.post(f"{base}/databases", json={"name": "intruder", "cluster_size": "PS_10"},
                     headers=headers),
            404, "not_found",
        )  # fmt: skip
        assert_error(api.patch(f"{base}/databases/{db}", json={"deletion_protected": True},
                               headers=headers), 404, "not_found")  # fmt: skip
        assert_error(api.post(f"{base}/databases/{db}/branches/main/passwords", json={},
                              headers=headers), 404, "not_found")  # fmt: skip
        assert_error(api.delete(f"{base}/databases/{db}", headers=headers), 404, "not_found")

    # each lists only its own organization and databases
    assert [o["name"] for o in api.get("/v1/organizations").json()["data"]] == [ORG]
    assert [o["name"] for o in api.get("/v1/organizations", headers=globex).json()["data"]] == [
        "globex"
    ]
    assert [d["name"] for d in api.get(f"{org_path()}/databases").json()["data"]] == ["shop"]
    listed = api.get("/v1/organizations/globex/databases", headers=globex).json()["data"]
    assert [d["name"] for d in listed] == ["gadgets"]
    assert api.get(org_path()).json()["billing_email"] == ""
    assert api.get(f"{org_path()}/databases/shop").json()["deletion_protected"] is False


# --- narrow tokens -------------------------------------------------------------------------


def test_read_database_on_one_database(api: TestClient, app: FastAPI) -> None:
    create_db(api, "shop")
    create_db(api, "other")
    token = service_token(app, [("read_database", "Database", db_id(app, "shop"))])
    assert api.get(f"{org_path()}/databases/shop", headers=token).status_code == 200
    assert api.get(f"{org_path()}/databases/shop/regions", headers=token).status_code == 200
    assert_error(api.get(f"{org_path()}/databases/other", headers=token), 404, "not_found")
    listed = api.get(f"{org_path()}/databases", headers=token)
    assert listed.status_code == 200, listed.text
    assert [d["name"] for d in listed.json()["data"]] == ["shop"]
    assert listed.json()["total_count"] == 1
    for response in (
        api.patch(f"{org_path()}/databases/shop", json={"deletion_protected": True}, headers=token),
        api.delete(f"{org_path()}/databases/shop", headers=token),
        api.get(f"{branch_path('shop')}", headers=token),  # read_database is no branch access
        api.get(org_path(), headers=token),
        api.post(f"{org_path()}/databases", json={"name": "n", "cluster_size": "PS_10"},
                 headers=token),
    ):  # fmt: skip
        assert_error(response, 404, "not_found")
    assert api.get(f"{org_path()}/databases/shop").json()["deletion_protected"] is False


def test_create_databases_only(api: TestClient, app: FastAPI) -> None:
    create_db(api, "shop")
    token = service_token(app, [("create_databases", "Organization", org_id(app))])
    response = api.post(
        f"{org_path()}/databases", json={"name": "mine", "cluster_size": "PS_10"}, headers=token
    )
    assert response.status_code == 201, response.text
    assert_matches_spec("create_database", 201, response.json())
    for url in (org_path(), f"{org_path()}/databases/shop"):
        assert_error(api.get(url, headers=token), 404, "not_found")
    assert_error(api.delete(f"{org_path()}/databases/shop", headers=token), 404, "not_found")
    # the database it created is its own (PlanetScale grants the creator database accesses)
    listed = api.get(f"{org_path()}/databases", headers=token).json()["data"]
    assert [d["name"] for d in listed] == ["mine"]


def test_oauth_token_narrowed_to_one_database(api: TestClient, app: FastAPI) -> None:
    create_db(api, "shop")
    create_db(api, "other")
    token = oauth_token(
        app, ["database:read_database", "database:read_branches"], database_id=db_id(app, "shop")
    )
    assert api.get(f"{org_path()}/databases/shop", headers=token).status_code == 200
    assert api.get(f"{org_path()}/databases/shop/branches", headers=token).status_code == 200
    assert_error(api.get(f"{org_path()}/databases/other", headers=token), 404, "not_found")
    assert_error(api.get(f"{org_path()}/databases/other/branches", headers=token), 404, "not_found")


def test_legacy_oauth_scopes(api: TestClient, app: FastAPI) -> None:
    create_db(api, "shop")
    reader = oauth_token(app, ["read_databases"])
    assert api.get(f"{org_path()}/databases", headers=reader).status_code == 200
    assert api.get(f"{org_path()}/databases/shop", headers=reader).status_code == 200
    assert_error(
        api.post(f"{org_path()}/databases", json={"name": "n", "cluster_size": "PS_10"},
                 headers=reader),
        404, "not_found",
    )  # fmt: skip
    assert_error(api.delete(f"{org_path()}/databases/shop", headers=reader), 404, "not_found")
    writer = oauth_token(app, ["write_databases"])
    response = api.post(
        f"{org_path()}/databases", json={"name": "n", "cluster_size": "PS_10"}, headers=writer
    )
    assert response.status_code == 201, response.text


# --- production and development branches -----------------------------------------------------


def _dev_branch(app: FastAPI, db: str) -> None:
    """A development branch (no endpoint creates one yet): a row the reconciler converges."""
    with store(app).tx() as s:
        s.add(
            Branch(
                database_id=db_id(app, db),
                name="dev",
                production=False,
                parent_branch="main",
                region="us-east",
                cluster_size="PS_DEV",
            )
        )


def test_production_branch_needs_the_production_access(api: TestClient, app: FastAPI) -> None:
    ready_db(api, "shop")
    _dev_branch(app, "shop")
    wait_until(lambda: api.get(branch_path("shop", "dev")).json()["ready"], what="dev ready")
    shop = db_id(app, "shop")
    plain = service_token(app, [("connect_branch", "Database", shop)])
    production = service_token(app, [("connect_production_branch", "Database", shop)])
    main_pw, dev_pw = f"{branch_path('shop')}/passwords", f"{branch_path('shop', 'dev')}/passwords"

    assert_error(api.post(main_pw, json={}, headers=plain), 404, "not_found")
    made = api.post(main_pw, json={}, headers=production)
    assert made.status_code == 201, made.text
    assert made.json()["database_branch"]["production"] is True
    for headers in (plain, production):  # either member counts on a development branch
        response = api.post(dev_pw, json={}, headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["database_branch"]["production"] is False

    # deleting: delete_branch_password only off production
    deleter = service_token(app, [("delete_branch_password", "Database", shop)])
    on_main = api.post(main_pw, json={}).json()["id"]
    on_dev = api.post(dev_pw, json={}).json()["id"]
    assert_error(api.delete(f"{main_pw}/{on_main}", headers=deleter), 404, "not_found")
    assert api.delete(f"{dev_pw}/{on_dev}", headers=deleter).status_code == 204
    assert api.get(f"{main_pw}/{on_main}").status_code == 200


# --- the matrix: one access (or scope) per token, every operation -----------------------------


@dataclass
class Targets:
    """Things a probe may destroy (kept for the next probe while they survive) and a number
    for the names of what it may create."""

    n: int
    victim: str
    victim_id: str
    password_id: str
    role_id: str


@dataclass
class World:
    client: TestClient
    fake: FakeProvisioner
    org_id: str
    shop_id: str
    pgdb_id: str
    password_id: str
    role_id: str
    counter: int = 0
    spare: Targets | None = None


SHOP_PW = f"{branch_path('shop')}/passwords"
PG_ROLES = f"{branch_path('pgdb')}/roles"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    # many probes share it: no frequent health checks of the branches they leave behind
    with installation(health_interval=60.0) as (client, fake):
        ready_db(client, "shop")
        ready_db(client, "pgdb", "postgresql")
        password = client.post(SHOP_PW, json={"name": "keep"}).json()
        role = client.post(PG_ROLES, json={"name": "keep"}).json()
        app = client.app
        yield World(
            client, fake, org_id(app), db_id(app, "shop"), db_id(app, "pgdb"),
            password["id"], role["id"],
        )  # fmt: skip


Call = Callable[[World, Targets], tuple[str, str, Any]]

#: each implemented operation, called so that it succeeds for the admin
CALLS: dict[str, Call] = {
    "list_organizations": lambda w, t: ("GET", "/v1/organizations", None),
    "get_organization": lambda w, t: ("GET", org_path(), None),
    "update_organization": lambda w, t: (
        "PATCH", org_path(), {"billing_email": f"probe-{t.n}@acme.test"}),
    "list_regions_for_organization": lambda w, t: ("GET", f"{org_path()}/regions", None),
    "list_cluster_size_skus": lambda w, t: ("GET", f"{org_path()}/cluster-size-skus", None),
    "list_databases": lambda w, t: ("GET", f"{org_path()}/databases", None),
    "create_database": lambda w, t: (
        "POST", f"{org_path()}/databases", {"name": f"made-{t.n}", "cluster_size": "PS_10"}),
    "get_database": lambda w, t: ("GET", f"{org_path()}/databases/shop", None),
    "update_database_settings": lambda w, t: (
        "PATCH", f"{org_path()}/databases/shop", {"migration_table_name": f"probe_{t.n}"}),
    "delete_database": lambda w, t: ("DELETE", f"{org_path()}/databases/{t.victim}", None),
    "list_database_regions": lambda w, t: ("GET", f"{org_path()}/databases/shop/regions", None),
    "list_read_only_regions": lambda w, t: (
        "GET", f"{org_path()}/databases/shop/read-only-regions", None),
    "list_branches": lambda w, t: ("GET", f"{org_path()}/databases/shop/branches", None),
    "get_branch": lambda w, t: ("GET", branch_path("shop"), None),
    "list_passwords": lambda w, t: ("GET", SHOP_PW, None),
    "get_password": lambda w, t: ("GET", f"{SHOP_PW}/{w.password_id}", None),
    "create_password": lambda w, t: ("POST", SHOP_PW, {"name": f"made-{t.n}"}),
    "delete_password": lambda w, t: ("DELETE", f"{SHOP_PW}/{t.password_id}", None),
    "list_roles": lambda w, t: ("GET", PG_ROLES, None),
    "get_role": lambda w, t: ("GET", f"{PG_ROLES}/{w.role_id}", None),
    "create_role": lambda w, t: ("POST", PG_ROLES, {"name": f"made-{t.n}"}),
    "delete_role": lambda w, t: ("DELETE", f"{PG_ROLES}/{t.role_id}", None),
}  # fmt: skip


def test_the_matrix_calls_every_protected_operation() -> None:
    assert set(CALLS) == set(RULES)


def _targets(w: World) -> Targets:
    """Targets for the next probe: what the previous probe did not destroy, plus new ones."""
    w.counter += 1
    n, client, spare = w.counter, w.client, w.spare
    if spare is None or not _live_database(w, spare.victim):
        victim = create_db(client, f"victim-{n}")
        victim_name, victim_id = victim["name"], victim["id"]
    else:
        victim_name, victim_id = spare.victim, spare.victim_id
    if spare is None or not _live_credential(w, spare.password_id):
        password_id = client.post(SHOP_PW, json={"name": f"doomed-{n}"}).json()["id"]
    else:
        password_id = spare.password_id
    if spare is None or not _live_credential(w, spare.role_id):
        role_id = client.post(PG_ROLES, json={"name": f"doomed-{n}"}).json()["id"]
    else:
        role_id = spare.role_id
    w.spare = Targets(n, victim_name, victim_id, password_id, role_id)
    return w.spare


def _live_database(w: World, name: str) -> bool:
    with store(w.client.app).tx() as s:
        found = s.scalar(
            select(Database.id).where(Database.name == name, Database.deleted_at.is_(None))
        )
    return found is not None


def _live_credential(w: World, credential_id: str) -> bool:
    with store(w.client.app).tx() as s:
        cred = s.get(Credential, credential_id)
        return cred is not None and cred.deleted_at is None


def _has_credential(w: World, kind: str, name: str) -> bool:
    with store(w.client.app).tx() as s:
        found = s.scalar(
            select(Credential.id).where(Credential.kind == kind, Credential.name == name)
        )
    return found is not None


def _probe(w: World, t: Targets, headers: dict[str, str], may: Callable[[str], bool]) -> None:
    problems = []
    for op, call in CALLS.items():
        method, url, body = call(w, t)
        kwargs = {"json": body} if body is not None else {}
        response = w.client.request(method, url, headers=headers, **kwargs)
        allowed = may(op)
        if allowed:
            if response.status_code != _success(op):
                problems.append(f"{op}: allowed by the spec, got {response.status_code} "
                                f"{response.text[:160]}")  # fmt: skip
                continue
            assert_matches_spec(
                op, response.status_code, response.json() if response.content else None
            )
        else:
            body_ok = response.status_code == 404 and response.json().get("code") == "not_found"
            if not body_ok:
                problems.append(f"{op}: not allowed by the spec, got {response.status_code} "
                                f"{response.text[:160]}")  # fmt: skip
    assert not problems, "\n".join(problems)

    # what the refused mutations did not do, and the allowed ones did (read in the store)
    with store(w.client.app).tx() as s:
        billing_email = s.scalar(
            select(Organization.billing_email).where(Organization.id == w.org_id)
        )
        table_name = s.scalar(select(Database.migration_table_name).where(Database.id == w.shop_id))
    effects = {
        "update_organization": billing_email == f"probe-{t.n}@acme.test",
        "create_database": _live_database(w, f"made-{t.n}"),
        "update_database_settings": table_name == f"probe_{t.n}",
        "delete_database": not _live_database(w, t.victim),
        "create_password": _has_credential(w, "password", f"made-{t.n}"),
        "delete_password": not _live_credential(w, t.password_id),
        "create_role": _has_credential(w, "role", f"made-{t.n}"),
        "delete_role": not _live_credential(w, t.role_id),
    }
    wrong = [op for op, happened in effects.items() if happened != may(op)]
    assert not wrong, f"side effects disagree with the verdicts for: {wrong}"

    # leave the shared installation as small as it was
    assert w.client.delete(f"{org_path()}/databases/made-{t.n}").status_code in (204, 404)


ACCESSES = [*ORG_ACCESSES, *DATABASE_ACCESSES]


@pytest.mark.parametrize("access", ACCESSES)
def test_service_token_with_one_access(world: World, access: str) -> None:
    """The access on the organization (organization accesses) or on exactly the databases
    the calls touch (database accesses): allowed where the spec lists it, 404 elsewhere."""
    t = _targets(world)
    headers = service_token(
        world.client.app,
        grants_for(access, world.org_id, [world.shop_id, world.pgdb_id, t.victim_id]),
    )
    _probe(world, t, headers, lambda op: service_token_may(op, access))


def _scopes_of_implemented_operations() -> list[tuple[str, str]]:
    found = {
        (level, scope)
        for op in RULES
        for level, names in operation(op)["oauth_scopes"].items()
        for scope in names
    }
    # and two no implemented operation accepts
    return sorted(found | {("organization", "read_invoices"), ("user", "read_user")})


@pytest.mark.parametrize("level,scope", _scopes_of_implemented_operations(), ids=lambda v: str(v))
def test_oauth_token_with_one_scope(world: World, level: str, scope: str) -> None:
    t = _targets(world)
    headers = oauth_token(world.client.app, [f"{level}:{scope}"])
    _probe(world, t, headers, lambda op: oauth_may(op, level, scope))


def test_the_matrix_is_not_vacuous() -> None:
    """Every operation is allowed by some single access and refused by another."""
    for op in RULES:
        verdicts = {service_token_may(op, a) for a in ACCESSES}
        if operation(op)["token_accesses"]:
            assert verdicts == {True, False}, op
        scopes = _scopes_of_implemented_operations()
        assert {oauth_may(op, lvl, s) for lvl, s in scopes} == {True, False}, op
