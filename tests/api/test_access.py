"""Who may do what: authentication, organizations, token accesses and OAuth scopes.

The access matrix is driven by the spec's facts, not by the implementation's table: for
every access (and every OAuth scope the implemented operations name), a token holding only
that one calls every operation, on a production and on a development branch where the
operation is about a branch, and must succeed exactly where the spec lists it. Where
Moonbase knowingly asks for something else (``access.BEYOND_SPEC``), the tests hold their own
description of the deviation (``DEVIATIONS``) and both must agree.

Who the caller is matters beyond its lists in two places, both written into the oracle:
an operation the spec gives no OAuth scope is for service tokens only (unless it needs
nothing at all), and the current user exists only behind an OAuth token issued to a person
(``NEEDS_A_PERSON``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from oauth_support import Client, register
from sqlalchemy import delete, select, update

from moonbase.api.access import (
    BEYOND_SPEC,
    DATABASE_ACCESSES,
    NON_PRODUCTION_ACCESSES,
    NON_PRODUCTION_SCOPES,
    ORG_ACCESSES,
    RULES,
)
from moonbase.contract.facts import load_facts, operation
from moonbase.ids import new_secret, token_hash, utcnow
from moonbase.models import (
    Branch,
    Credential,
    Database,
    Desired,
    Membership,
    OAuthToken,
    Organization,
    ServiceToken,
    ServiceTokenAccess,
    Team,
    TeamMembership,
    Webhook,
)
from moonbase.provisioners.fake import FakeProvisioner

from api_support import (
    ADMIN_ID,
    ORG,
    add_organization,
    assert_error,
    branch_path,
    create_branch,
    create_db,
    db_id,
    db_path,
    grants_for,
    implemented_operations,
    installation,
    oauth_token,
    org_id,
    org_path,
    ready_branch,
    ready_db,
    service_token,
    store,
    wait_branch_ready,
)
from contract import assert_matches_spec
from people_support import add_user, admin_user_id, role_of, user_token

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


# --- what the tests expect: the spec's lists, and the deviations BEYOND_SPEC documents -------


@dataclass(frozen=True)
class Deviation:
    """How Moonbase's rule for an operation differs from the spec's lists: accesses on top of
    them, or the lists of another operation (``like``) in their place."""

    extra_accesses: tuple[str, ...] = ()
    like: str | None = None


#: the tests' own reading of each entry of ``access.BEYOND_SPEC`` (the two must name the same
#: operations; anything else must match the spec exactly)
DEVIATIONS: dict[str, Deviation] = {
    # the spec lists only delete_branch, which does not count on a production branch
    "delete_branch": Deviation(extra_accesses=("delete_production_branch",)),
    # the spec names no access nor scope: Moonbase asks what update_branch asks
    "enable_safe_migrations": Deviation(like="update_branch"),
    "disable_safe_migrations": Deviation(like="update_branch"),
    "update_safe_migrations": Deviation(like="update_branch"),
    # not in the spec at all (pscale calls it): what reading the schema takes
    "refresh_branch_schema": Deviation(like="get_branch_schema"),
    "diff_branch": Deviation(like="get_branch_schema"),
    # not in the spec (pscale / planetscale-go call them): a token's accesses are part of the
    # token, so reading them is reading it, granting is what creating takes, and removing some
    # is the lesser part of deleting it
    "list_service_token_accesses": Deviation(like="get_service_token"),
    "list_service_token_grants": Deviation(like="get_service_token"),
    "add_service_token_accesses": Deviation(like="create_service_token"),
    "delete_service_token_accesses": Deviation(like="delete_service_token"),
}

#: operations outside the spec and the operation whose response body they share
BODY_LIKE = {"refresh_branch_schema": "get_branch", "diff_branch": "get_branch_schema"}
#: operations outside the spec that share no operation's body: the status of their success
#: (their bodies are held to the spec's pieces in test_spec_coverage)
OUTSIDE_SPEC_SUCCESS = {
    "list_service_token_accesses": 200,
    "list_service_token_grants": 200,
    "add_service_token_accesses": 200,
    "delete_service_token_accesses": 204,
}
OUTSIDE_SPEC = set(BODY_LIKE) | set(OUTSIDE_SPEC_SUCCESS)

#: operations about the person behind the token. The spec lists no access for them (so any
#: token may ask), but a service token belongs to the organization and an OAuth token may be
#: issued to no person: they have no current user, and Moonbase answers 404
#: (users.service.current_user). The matrix calls these with a token of the same single scope
#: issued to a person.
NEEDS_A_PERSON = {"get_current_user"}


@dataclass(frozen=True)
class Lists:
    """Token accesses and OAuth scopes (level -> names, empty levels left out)."""

    accesses: frozenset[str]
    scopes: dict[str, frozenset[str]] = field(default_factory=dict)


def spec_lists(op: str) -> Lists | None:
    """The spec's own lists for ``op``; None for an operation the spec does not have."""
    facts = load_facts()["operations"].get(op)
    if facts is None:
        return None
    scopes = {lvl: frozenset(names) for lvl, names in facts["oauth_scopes"].items() if names}
    return Lists(frozenset(facts["token_accesses"]), scopes)


@cache
def expected(op: str) -> Lists:
    """What the tests hold ``op`` to: the spec's lists, changed only as DEVIATIONS says."""
    deviation = DEVIATIONS.get(op)
    if deviation is not None and deviation.like is not None:
        return expected(deviation.like)
    found = spec_lists(op)
    assert found is not None, f"{op} is not in the spec and no deviation documents it"
    if deviation is not None:
        found = Lists(found.accesses | set(deviation.extra_accesses), found.scopes)
    return found


def rule_lists(op: str) -> Lists:
    rule = RULES[op]
    scopes = {lvl: frozenset(names) for lvl, names in rule.scopes.items() if names}
    return Lists(frozenset(rule.accesses), scopes)


def _success(op: str) -> int:
    if op in OUTSIDE_SPEC_SUCCESS:
        return OUTSIDE_SPEC_SUCCESS[op]
    codes = [int(c) for c in operation(BODY_LIKE.get(op, op))["responses"] if c[0] == "2"]
    assert len(codes) == 1, (op, codes)
    return codes[0]


def service_token_may(op: str, access: str, production: bool = False) -> bool:
    """``production``: the call targets a production branch (False off branches)."""
    if op in NEEDS_A_PERSON:  # a service token is no person
        return False
    listed = expected(op).accesses
    if not listed:  # the spec names no access: any token of the organization
        return True
    if access not in listed:
        return False
    return not (production and access in PRODUCTION_SIBLING)


def oauth_may(op: str, level: str, scope: str, production: bool = False) -> bool:
    """For a token issued to a person (NEEDS_A_PERSON), or to nobody otherwise."""
    scopes = expected(op).scopes
    if not scopes:
        # no scope listed at any level: service tokens only (auth.py), unless the operation
        # needs nothing at all (then any token of the organization)
        return not expected(op).accesses
    if scope not in scopes.get(level, ()):
        return False
    return not (production and scope in PRODUCTION_SIBLING_SCOPE)


# --- the table cannot drift from the spec --------------------------------------------------


def test_access_table_matches_the_spec() -> None:
    """Every rule is the spec's lists, except exactly the documented deviations."""
    assert set(DEVIATIONS) == set(BEYOND_SPEC), (
        "access.BEYOND_SPEC and the tests' DEVIATIONS document different operations"
    )
    for op, rule in RULES.items():
        assert len(rule.accesses) == len(set(rule.accesses)), f"{op}: duplicate accesses"
        assert rule_lists(op) == expected(op), op
        assert rule.restricted == bool(expected(op).accesses), op


def test_documented_deviations_only_ever_add() -> None:
    """A deviation asks for more than the spec (or stands in for an operation the spec lacks),
    never for less, and is a real deviation (not a stale entry)."""
    for op, deviation in DEVIATIONS.items():
        assert op in RULES and BEYOND_SPEC.get(op, "").strip(), f"{op}: not in BEYOND_SPEC"
        spec, want = spec_lists(op), expected(op)
        if deviation.like is not None:
            # "the same as <like>": literally that operation's rule
            assert rule_lists(op) == rule_lists(deviation.like), op
            assert RULES[op].restricted == RULES[deviation.like].restricted, op
            assert deviation.like not in DEVIATIONS, op
        if spec is None:
            assert deviation.like is not None, f"{op}: outside the spec, and like nothing"
            continue
        assert spec.accesses <= want.accesses, op
        for level, names in spec.scopes.items():
            assert names <= want.scopes.get(level, frozenset()), (op, level)
        assert spec != want, f"{op} is documented as beyond the spec but matches it"
    outside = {op for op in RULES if spec_lists(op) is None}
    assert outside == OUTSIDE_SPEC, outside
    assert not set(BODY_LIKE) & set(OUTSIDE_SPEC_SUCCESS)


def test_access_and_scope_names_are_known() -> None:
    scope_names = set(load_facts()["oauth_scope_names"])
    # the spec's operations name one scope its list of scopes lacks (demote_branch)
    scope_names |= {
        f"{level}:{name}"
        for facts in load_facts()["operations"].values()
        for level, names in facts["oauth_scopes"].items()
        for name in names
    }
    known = set(ORG_ACCESSES) | set(DATABASE_ACCESSES)
    assert not set(ORG_ACCESSES) & set(DATABASE_ACCESSES)
    for op, rule in RULES.items():
        assert set(rule.accesses) <= known, op
        for level, names in rule.scopes.items():
            assert {f"{level}:{n}" for n in names} <= scope_names, op


def test_production_pairs_match_the_implementation() -> None:
    assert set(PRODUCTION_SIBLING) == NON_PRODUCTION_ACCESSES
    for other, production in PRODUCTION_SIBLING.items():
        assert other in DATABASE_ACCESSES and production in DATABASE_ACCESSES
    # scopes apart from accesses: the branch scope delete_branch is in no pair
    assert set(PRODUCTION_SIBLING_SCOPE) == NON_PRODUCTION_SCOPES
    scope_names = set(load_facts()["oauth_scope_names"])
    for other, production in PRODUCTION_SIBLING_SCOPE.items():
        assert any(n.endswith(f":{other}") for n in scope_names), other
        assert any(n.endswith(f":{production}") for n in scope_names), production


def test_every_protected_operation_has_a_rule(app: FastAPI) -> None:
    implemented = set(implemented_operations(app))
    assert implemented - PUBLIC == set(RULES)
    assert set(RULES) - set(load_facts()["operations"]) <= set(DEVIATIONS)


def test_the_oracle_knows_the_production_pairs() -> None:
    """The examples of behaviour doc 6.3, as the oracle of the matrix below reads them."""
    for production in (True, False):
        assert service_token_may("create_password", "connect_production_branch", production)
        assert service_token_may("create_password", "connect_branch", production) is not production
        assert service_token_may("delete_branch", "delete_branch", production) is not production
        assert service_token_may("delete_branch", "delete_production_branch", production)
        assert oauth_may("delete_branch", "database", "delete_branches", production) is not (
            production
        )
        assert oauth_may("delete_branch", "database", "delete_production_branches", production)
    assert not service_token_may("delete_branch", "write_database")
    assert not service_token_may("enable_safe_migrations", "read_branch")  # not "anyone"
    assert service_token_may("refresh_branch_schema", "read_branch", production=True)


def test_the_oracle_knows_who_the_caller_is() -> None:
    """OAuth tokens and operations the spec gives no scope; the current user; the operations
    outside the spec that stand in for the spec's service-token operations."""
    assert service_token_may("list_service_tokens", "read_service_tokens")
    assert not any(
        oauth_may("list_service_tokens", lvl, s) for lvl, s in _scopes_of_implemented_operations()
    )
    assert not any(oauth_may("list_audit_logs", "organization", s) for s in ORG_ACCESSES)
    assert service_token_may("add_service_token_accesses", "write_service_tokens")
    assert not service_token_may("add_service_token_accesses", "read_service_tokens")
    assert service_token_may("delete_service_token_accesses", "delete_service_tokens")
    assert service_token_may("list_service_token_grants", "read_service_tokens")
    # no person behind a service token, whatever it holds
    assert not any(service_token_may("get_current_user", a) for a in ORG_ACCESSES)
    assert oauth_may("get_current_user", "user", "read_user")
    assert not oauth_may("get_current_user", "organization", "read_organization")
    # anyone of the organization: no access listed, and a scope for OAuth tokens
    assert service_token_may("list_organizations", "read_invoices")
    assert oauth_may("list_organizations", "user", "read_organizations")
    # members and teams: write_teams for tokens, but the organization scope for OAuth
    assert service_token_may("create_organization_team", "write_teams")
    assert not service_token_may("create_organization_team", "write_organization")
    assert oauth_may("create_organization_team", "organization", "write_organization")


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


def test_production_branch_needs_the_production_access(api: TestClient, app: FastAPI) -> None:
    ready_db(api, "shop")
    ready_branch(api, "shop", "dev")
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


def test_deleting_a_production_branch_needs_delete_production_branch(
    api: TestClient, app: FastAPI
) -> None:
    ready_db(api, "shop")
    branches = f"{db_path('shop')}/branches"
    for name in ("dev", "prod"):
        create_branch(api, "shop", name)
    assert api.post(f"{branches}/prod/promote").json()["production"] is True
    shop = db_id(app, "shop")
    plain = service_token(app, [("delete_branch", "Database", shop)])
    production = service_token(app, [("delete_production_branch", "Database", shop)])

    assert_error(api.delete(f"{branches}/prod", headers=plain), 404, "not_found")
    assert api.get(f"{branches}/prod").status_code == 200
    assert api.delete(f"{branches}/dev", headers=plain).status_code == 204
    assert api.delete(f"{branches}/prod", headers=production).status_code == 204
    listed = api.get(branches).json()["data"]
    assert [b["name"] for b in listed] == ["main"]


# --- the matrix: one access (or scope) per token, every operation -----------------------------
#
# Branches of the shared installation: shop (mysql) and pgdb (postgresql) each have ``main``
# (production, default) and ``dev`` (development); shop also has ``flip``, which promote and
# demote turn over (its production flag is set in the store before each), and per probe a
# development and a production branch that delete_branch may remove.
#
# The organization's other resources (``Kept``): people and a team, a service token, an OAuth
# application with a token, a webhook on shop; and per probe one of each kind a delete may
# remove. The OAuth tokens of the matrix are issued to no person, like api_support's
# ``oauth_token``: such a token acts for the organization itself (users.service.caller), so the
# admin role that members and teams ask of a person does not apply and the spec's scopes
# decide alone (the role is test_members_teams' subject). Only NEEDS_A_PERSON operations are
# called with a token issued to a person, the installation's first administrator.
#
# The installation allows far more requests than the default rate limit (600 a minute per
# token): each probing token makes about a hundred, but the administrator's token, which makes
# the targets and cleans up after every probing token, makes well over a thousand a minute.

#: where the matrix's webhooks point: nothing listens (a test delivery fails at once, and is
#: not retried: ``webhook_max_attempts=1``)
HOOK = "http://127.0.0.1:9/"


@dataclass
class Targets:
    """Things a probe may destroy (kept for the next probe while they survive) and a number
    for the names of what it may create. Dicts are keyed by "on a production branch"."""

    n: int
    victim: str
    victim_id: str
    password_ids: dict[bool, str]
    role_ids: dict[bool, str]
    branches: dict[bool, str]
    #: a member (user id), a team (slug), a service token, an OAuth token, a webhook
    member_id: str
    team: str
    service_token_id: str
    oauth_token_id: str
    webhook_id: str


@dataclass(frozen=True)
class Kept:
    """What the probes of the organization's other resources read and change, never delete."""

    #: a member whose role update_organization_membership sets
    member_id: str
    #: a team (slug) with a permanent member, and a member the probes move in and out of it
    team: str
    team_member_id: str
    joiner_id: str
    service_token_id: str
    application: Client
    oauth_token_id: str
    webhook_id: str
    #: the person NEEDS_A_PERSON operations are called for
    person_id: str


@dataclass
class World:
    client: TestClient
    fake: FakeProvisioner
    org_id: str
    shop_id: str
    pgdb_id: str
    #: kept credentials (made with a ttl, so renewable), keyed by "on a production branch"
    password_ids: dict[bool, str]
    role_ids: dict[bool, str]
    kept: Kept
    counter: int = 0
    spare: Targets | None = None
    #: the kept OAuth token's current refresh token (create_oauth_token rotates it)
    refresh_token: str = ""


def _on(production: bool) -> str:
    return "main" if production else "dev"


def _tag(production: bool) -> str:
    return "p" if production else "d"


def _pw(production: bool) -> str:
    return f"{branch_path('shop', _on(production))}/passwords"


def _roles(production: bool) -> str:
    return f"{branch_path('pgdb', _on(production))}/roles"


def _keep(client: TestClient) -> Kept:
    app: FastAPI = client.app  # type: ignore[assignment]
    member, keeper, joiner = (
        add_user(app, f"{who}@acme.test") for who in ("kept", "keeper", "joiner")
    )
    team = client.post(f"{org_path()}/teams", json={"name": "Keepers"})
    assert team.status_code == 200, team.text
    slug = team.json()["slug"]
    joined = client.post(f"{org_path()}/teams/{slug}/members", json={"user_id": keeper})
    assert joined.status_code == 200, joined.text
    token = client.post(f"{org_path()}/service-tokens", json={"name": "kept"})
    assert token.status_code == 200, token.text
    hook = client.post(f"{db_path('shop')}/webhooks", json={"url": f"{HOOK}kept"})
    assert hook.status_code == 201, hook.text
    application = register(app)
    return Kept(
        member_id=member,
        team=slug,
        team_member_id=keeper,
        joiner_id=joiner,
        service_token_id=token.json()["id"],
        application=application,
        oauth_token_id=_application_token(app, application),
        webhook_id=hook.json()["id"],
        person_id=admin_user_id(app),
    )


def _application_token(app: FastAPI, application: Client) -> str:
    """A token the application was issued for the first administrator (as if through the
    authorization-code flow); its refresh token is set by whoever refreshes it."""
    with store(app).tx() as s:
        token = OAuthToken(
            organization_id=org_id(app),
            token_hash=token_hash(new_secret("pscale_oauth_")),
            refresh_token_hash=token_hash(new_secret("pscale_oauth_refresh_")),
            scopes=["organization:read_databases"],
            user_id=admin_user_id(app),
            application_id=application.id,
            expires_at=utcnow() + timedelta(days=30),
        )
        s.add(token)
        s.flush()
        return token.id


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    # many probes share it: no frequent health checks of the branches they leave behind, a
    # rate limit the matrix cannot reach, test deliveries to nowhere not retried
    quiet = {"health_interval": 60.0, "rate_limit": 1_000_000, "webhook_max_attempts": 1}
    with installation(**quiet) as (client, fake):
        ready_db(client, "shop")
        ready_db(client, "pgdb", "postgresql")
        for db, name in (("shop", "dev"), ("shop", "flip"), ("pgdb", "dev")):
            create_branch(client, db, name)
        for db, name in (("shop", "dev"), ("shop", "flip"), ("pgdb", "dev")):
            wait_branch_ready(client, db, name)
        passwords, roles = {}, {}
        for production in (True, False):
            keep = {"name": f"keep-{_tag(production)}", "ttl": 3600}
            passwords[production] = client.post(_pw(production), json=keep).json()["id"]
            roles[production] = client.post(_roles(production), json=keep).json()["id"]
        app = client.app
        kept = _keep(client)
        yield World(
            client,
            fake,
            org_id(app),
            db_id(app, "shop"),
            db_id(app, "pgdb"),
            passwords,
            roles,
            kept,
        )


# --- reading and writing the store around a call -------------------------------------------


def _branch(w: World, db: str, name: str) -> Branch | None:
    with store(w.client.app).tx() as s:
        found = s.scalar(
            select(Branch).where(
                Branch.database_id == (w.shop_id if db == "shop" else w.pgdb_id),
                Branch.name == name,
                Branch.desired == Desired.PRESENT,
            )
        )
        if found is not None:
            s.expunge(found)
        return found


def _set_branch(w: World, db: str, name: str, **values: Any) -> None:
    found = _branch(w, db, name)
    assert found is not None, (db, name)
    with store(w.client.app).tx() as s:
        s.execute(update(Branch).where(Branch.id == found.id).values(**values))


def _flag(w: World, db: str, name: str, column: str) -> Any:
    found = _branch(w, db, name)
    assert found is not None, (db, name)
    return getattr(found, column)


def _credential(w: World, credential_id: str) -> Credential | None:
    with store(w.client.app).tx() as s:
        found = s.get(Credential, credential_id)
        if found is not None:
            s.expunge(found)
        return found


def _set_credential(w: World, credential_id: str, **values: Any) -> None:
    with store(w.client.app).tx() as s:
        s.execute(update(Credential).where(Credential.id == credential_id).values(**values))


def _default_role(w: World, production: bool) -> Credential | None:
    found = _branch(w, "pgdb", _on(production))
    assert found is not None
    with store(w.client.app).tx() as s:
        row = s.scalar(
            select(Credential).where(Credential.branch_id == found.id, Credential.is_default)
        )
        if row is not None:
            s.expunge(row)
        return row


def _live_database(w: World, name: str) -> bool:
    with store(w.client.app).tx() as s:
        found = s.scalar(
            select(Database.id).where(Database.name == name, Database.deleted_at.is_(None))
        )
    return found is not None


def _live_credential(w: World, credential_id: str) -> bool:
    cred = _credential(w, credential_id)
    return cred is not None and cred.deleted_at is None


def _has_credential(w: World, kind: str, name: str) -> bool:
    with store(w.client.app).tx() as s:
        found = s.scalar(
            select(Credential.id).where(
                Credential.kind == kind, Credential.name == name, Credential.deleted_at.is_(None)
            )
        )
    return found is not None


def _role(w: World, user_id: str) -> str | None:
    """The user's role in the organization; None once not a member."""
    return role_of(w.client.app, user_id, w.org_id)  # type: ignore[arg-type]


def _set_role(w: World, user_id: str, role: str) -> None:
    with store(w.client.app).tx() as s:
        s.execute(
            update(Membership)
            .where(Membership.organization_id == w.org_id, Membership.user_id == user_id)
            .values(role=role)
        )


def _team(w: World, slug: str) -> Team | None:
    with store(w.client.app).tx() as s:
        found = s.scalar(select(Team).where(Team.organization_id == w.org_id, Team.slug == slug))
        if found is not None:
            s.expunge(found)
        return found


def _in_team(w: World, slug: str, user_id: str) -> bool:
    team = _team(w, slug)
    assert team is not None, slug
    with store(w.client.app).tx() as s:
        found = s.scalar(
            select(TeamMembership.id).where(
                TeamMembership.team_id == team.id, TeamMembership.user_id == user_id
            )
        )
    return found is not None


def _set_in_team(w: World, slug: str, user_id: str, member: bool) -> None:
    team = _team(w, slug)
    assert team is not None, slug
    if _in_team(w, slug, user_id) is member:
        return
    with store(w.client.app).tx() as s:
        if member:
            s.add(TeamMembership(team_id=team.id, user_id=user_id))
        else:
            s.execute(
                delete(TeamMembership).where(
                    TeamMembership.team_id == team.id, TeamMembership.user_id == user_id
                )
            )


def _service_token_ids(w: World, name: str | None = None) -> list[str]:
    with store(w.client.app).tx() as s:
        query = select(ServiceToken.id).where(ServiceToken.organization_id == w.org_id)
        if name is not None:
            query = query.where(ServiceToken.name == name)
        return list(s.scalars(query))


def _kept_token_holds(w: World, access: str) -> bool:
    """Whether the kept service token holds ``access`` organization-wide."""
    with store(w.client.app).tx() as s:
        found = s.scalar(
            select(ServiceTokenAccess.id).where(
                ServiceTokenAccess.token_id == w.kept.service_token_id,
                ServiceTokenAccess.access == access,
                ServiceTokenAccess.resource_type == "Organization",
                ServiceTokenAccess.resource_id == w.org_id,
            )
        )
    return found is not None


def _set_kept_token_holds(w: World, access: str, held: bool) -> None:
    if _kept_token_holds(w, access) is held:
        return
    with store(w.client.app).tx() as s:
        if held:
            s.add(
                ServiceTokenAccess(
                    token_id=w.kept.service_token_id,
                    access=access,
                    resource_type="Organization",
                    resource_id=w.org_id,
                )
            )
        else:
            s.execute(
                delete(ServiceTokenAccess).where(
                    ServiceTokenAccess.token_id == w.kept.service_token_id,
                    ServiceTokenAccess.access == access,
                )
            )


def _oauth_token(w: World, token_id: str) -> OAuthToken | None:
    with store(w.client.app).tx() as s:
        found = s.get(OAuthToken, token_id)
        if found is not None:
            s.expunge(found)
        return found


def _webhook(w: World, webhook_id: str) -> Webhook | None:
    with store(w.client.app).tx() as s:
        found = s.get(Webhook, webhook_id)
        if found is not None:
            s.expunge(found)
        return found


def _webhook_ids(w: World, url: str) -> list[str]:
    with store(w.client.app).tx() as s:
        return list(s.scalars(select(Webhook.id).where(Webhook.url == url)))


def _set_webhook(w: World, webhook_id: str, **values: Any) -> None:
    with store(w.client.app).tx() as s:
        s.execute(update(Webhook).where(Webhook.id == webhook_id).values(**values))


# --- the probes ------------------------------------------------------------------------------

Call = Callable[[World, Targets], tuple[str, str, Any]]
#: sets the store up before the call; what it returns is handed to ``effect``
Prepare = Callable[[World, Targets], Any]
#: after the call: did the change happen?
Effect = Callable[[World, Targets, Any], bool]


@dataclass(frozen=True)
class Probe:
    op: str
    call: Call
    #: None off branches; else whether the branch the call targets is a production one
    production: bool | None = None
    prepare: Prepare | None = None
    effect: Effect | None = None
    #: called with a token issued to a person (NEEDS_A_PERSON) holding the same scope (a
    #: service token calls as itself: there is no person behind one)
    person: bool = False

    @property
    def label(self) -> str:
        if self.production is None:
            return self.op
        return f"{self.op} on a {'production' if self.production else 'development'} branch"


def _no_prepare(w: World, t: Targets) -> None:
    return None


def _organization_probes() -> list[Probe]:
    def billing(w: World, t: Targets, _: Any) -> bool:
        with store(w.client.app).tx() as s:
            found = s.scalar(select(Organization.billing_email).where(Organization.id == w.org_id))
        return found == f"probe-{t.n}@acme.test"

    def table_name(w: World, t: Targets, _: Any) -> bool:
        with store(w.client.app).tx() as s:
            found = s.scalar(select(Database.migration_table_name).where(Database.id == w.shop_id))
        return found == f"probe_{t.n}"

    shop = db_path("shop")
    return [
        Probe("list_organizations", lambda w, t: ("GET", "/v1/organizations", None)),
        Probe("get_organization", lambda w, t: ("GET", org_path(), None)),
        Probe("update_organization",
              lambda w, t: ("PATCH", org_path(), {"billing_email": f"probe-{t.n}@acme.test"}),
              effect=billing),
        Probe("list_regions_for_organization", lambda w, t: ("GET", f"{org_path()}/regions", None)),
        Probe("list_cluster_size_skus",
              lambda w, t: ("GET", f"{org_path()}/cluster-size-skus", None)),
        Probe("list_databases", lambda w, t: ("GET", f"{org_path()}/databases", None)),
        Probe("create_database",
              lambda w, t: ("POST", f"{org_path()}/databases",
                            {"name": f"made-{t.n}", "cluster_size": "PS_10"}),
              effect=lambda w, t, _: _live_database(w, f"made-{t.n}")),
        Probe("get_database", lambda w, t: ("GET", shop, None)),
        Probe("update_database_settings",
              lambda w, t: ("PATCH", shop, {"migration_table_name": f"probe_{t.n}"}),
              effect=table_name),
        Probe("delete_database", lambda w, t: ("DELETE", db_path(t.victim), None),
              effect=lambda w, t, _: not _live_database(w, t.victim)),
        Probe("list_database_regions", lambda w, t: ("GET", f"{shop}/regions", None)),
        Probe("list_read_only_regions", lambda w, t: ("GET", f"{shop}/read-only-regions", None)),
        Probe("list_branches", lambda w, t: ("GET", f"{shop}/branches", None)),
        Probe("create_branch",
              lambda w, t: ("POST", f"{shop}/branches", {"name": f"made-{t.n}"}),
              effect=lambda w, t, _: _branch(w, "shop", f"made-{t.n}") is not None),
    ]  # fmt: skip


def _branch_probes(p: bool) -> list[Probe]:
    """Every operation on a branch, on ``main`` (p) or ``dev`` (not p)."""
    shop, tag, on = branch_path("shop", _on(p)), _tag(p), _on(p)
    pw, roles = _pw(p), _roles(p)

    def flag_is(column: str, value: Any) -> Effect:
        return lambda w, t, _: _flag(w, "shop", on, column) == value

    def set_flag(**values: Any) -> Prepare:
        return lambda w, t: _set_branch(w, "shop", on, **values)

    def soon(w: World, t: Targets) -> None:
        for cred in (w.password_ids[p], w.role_ids[p]):
            _set_credential(w, cred, expires_at=utcnow() + timedelta(seconds=60))

    def renewed(credential_id: Callable[[World], str]) -> Effect:
        def check(w: World, t: Targets, _: Any) -> bool:
            cred = _credential(w, credential_id(w))
            assert cred is not None and cred.expires_at is not None
            return cred.expires_at > utcnow() + timedelta(seconds=1800)

        return check

    def renamed(credential_id: Callable[[World], str], name: str) -> Effect:
        def check(w: World, t: Targets, _: Any) -> bool:
            cred = _credential(w, credential_id(w))
            return cred is not None and cred.name == f"{name}-{t.n}-{tag}"

        return check

    def verifier(w: World, t: Targets) -> str:
        cred = _credential(w, w.role_ids[p])
        assert cred is not None
        return cred.verifier

    def new_verifier(w: World, t: Targets, before: str) -> bool:
        cred = _credential(w, w.role_ids[p])
        return cred is not None and cred.verifier != before

    def default_verifier(w: World, t: Targets) -> str | None:
        cred = _default_role(w, p)
        return None if cred is None else cred.verifier

    def new_default_verifier(w: World, t: Targets, before: str | None) -> bool:
        cred = _default_role(w, p)
        return cred is not None and bool(cred.verifier) and cred.verifier != before

    def owns_objects(w: World, t: Targets) -> tuple[str, str]:
        branch = _branch(w, "pgdb", on)
        cred = _credential(w, w.role_ids[p])
        assert branch is not None and cred is not None
        w.fake.owned.setdefault(branch.id, {})[cred.username] = 1
        return branch.id, cred.username

    def objects_moved(w: World, t: Targets, where: tuple[str, str]) -> bool:
        return w.fake.owned.get(where[0], {}).get(where[1], 0) == 0

    kept_pw: Callable[[World], str] = lambda w: w.password_ids[p]  # noqa: E731
    kept_role: Callable[[World], str] = lambda w: w.role_ids[p]  # noqa: E731

    def here(op: str, call: Call, **hooks: Any) -> Probe:
        return Probe(op, call, p, **hooks)

    return [
        here("get_branch", lambda w, t: ("GET", shop, None)),
        here("update_branch", lambda w, t: ("PATCH", shop, {"deletion_protected": True}),
              prepare=set_flag(deletion_protected=False),
              effect=flag_is("deletion_protected", True)),
        here("enable_safe_migrations", lambda w, t: ("POST", f"{shop}/safe-migrations", None),
              prepare=set_flag(safe_migrations=False), effect=flag_is("safe_migrations", True)),
        here("disable_safe_migrations",
              lambda w, t: ("DELETE", f"{shop}/safe-migrations", None),
              prepare=set_flag(safe_migrations=True), effect=flag_is("safe_migrations", False)),
        here("update_safe_migrations",
              lambda w, t: ("PUT", f"{shop}/safe-migrations", {"safe_migrations": True}),
              prepare=set_flag(safe_migrations=False), effect=flag_is("safe_migrations", True)),
        here("get_branch_schema", lambda w, t: ("GET", f"{shop}/schema", None)),
        here("lint_branch_schema", lambda w, t: ("GET", f"{shop}/schema/lint", None)),
        here("refresh_branch_schema", lambda w, t: ("POST", f"{shop}/refresh-schema", None)),
        here("diff_branch", lambda w, t: ("GET", f"{shop}/diff", None)),
        # MySQL passwords
        here("list_passwords", lambda w, t: ("GET", pw, None)),
        here("get_password", lambda w, t: ("GET", f"{pw}/{w.password_ids[p]}", None)),
        here("create_password", lambda w, t: ("POST", pw, {"name": f"made-{t.n}-{tag}"}),
              effect=lambda w, t, _: _has_credential(w, "password", f"made-{t.n}-{tag}")),
        here("update_password",
              lambda w, t: ("PATCH", f"{pw}/{w.password_ids[p]}", {"name": f"upd-{t.n}-{tag}"}),
              effect=renamed(kept_pw, "upd")),
        here("renew_password", lambda w, t: ("POST", f"{pw}/{w.password_ids[p]}/renew", None),
              prepare=soon, effect=renewed(kept_pw)),
        here("delete_password", lambda w, t: ("DELETE", f"{pw}/{t.password_ids[p]}", None),
              effect=lambda w, t, _: not _live_credential(w, t.password_ids[p])),
        # PostgreSQL roles
        here("list_roles", lambda w, t: ("GET", roles, None)),
        here("get_role", lambda w, t: ("GET", f"{roles}/{w.role_ids[p]}", None)),
        here("get_default_role", lambda w, t: ("GET", f"{roles}/default", None)),
        here("create_role", lambda w, t: ("POST", roles, {"name": f"made-{t.n}-{tag}"}),
              effect=lambda w, t, _: _has_credential(w, "role", f"made-{t.n}-{tag}")),
        here("update_role",
              lambda w, t: ("PATCH", f"{roles}/{w.role_ids[p]}", {"name": f"upd-{t.n}-{tag}"}),
              effect=renamed(kept_role, "upd")),
        here("renew_role", lambda w, t: ("POST", f"{roles}/{w.role_ids[p]}/renew", None),
              prepare=soon, effect=renewed(kept_role)),
        here("reset_role", lambda w, t: ("POST", f"{roles}/{w.role_ids[p]}/reset", None),
              prepare=verifier, effect=new_verifier),
        here("reassign_role_objects",
              lambda w, t: ("POST", f"{roles}/{w.role_ids[p]}/reassign",
                            {"successor": "postgres"}),
              prepare=owns_objects, effect=objects_moved),
        here("reset_default_role", lambda w, t: ("POST", f"{roles}/reset-default", None),
              prepare=default_verifier, effect=new_default_verifier),
        here("delete_role", lambda w, t: ("DELETE", f"{roles}/{t.role_ids[p]}", None),
              effect=lambda w, t, _: not _live_credential(w, t.role_ids[p])),
        # the branch itself: a victim of its kind
        here("delete_branch",
              lambda w, t: ("DELETE", branch_path("shop", t.branches[p]), None),
              effect=lambda w, t, _: _branch(w, "shop", t.branches[p]) is None),
    ]  # fmt: skip


def _promotion_probes() -> list[Probe]:
    flip = branch_path("shop", "flip")

    def production_is(value: bool) -> Effect:
        return lambda w, t, _: _flag(w, "shop", "flip", "production") is value

    return [
        Probe("promote_branch", lambda w, t: ("POST", f"{flip}/promote", None), production=False,
              prepare=lambda w, t: _set_branch(w, "shop", "flip", production=False),
              effect=production_is(True)),
        Probe("demote_branch", lambda w, t: ("POST", f"{flip}/demote", None), production=True,
              prepare=lambda w, t: _set_branch(w, "shop", "flip", production=True),
              effect=production_is(False)),
    ]  # fmt: skip


def _people_probes() -> list[Probe]:
    """The current user, members, teams and team members."""
    members, teams = f"{org_path()}/members", f"{org_path()}/teams"

    def kept_team(w: World) -> str:
        return f"{teams}/{w.kept.team}"

    def description(w: World, t: Targets, _: Any) -> bool:
        team = _team(w, w.kept.team)
        return team is not None and team.description == f"probe {t.n}"

    def joiner_in_team(member: bool) -> Prepare:
        return lambda w, t: _set_in_team(w, w.kept.team, w.kept.joiner_id, member)

    def joiner_is_in_team(member: bool) -> Effect:
        return lambda w, t, _: _in_team(w, w.kept.team, w.kept.joiner_id) is member

    return [
        Probe("get_current_user", lambda w, t: ("GET", "/v1/user", None), person=True),
        Probe("list_organization_members", lambda w, t: ("GET", members, None)),
        Probe("get_organization_membership",
              lambda w, t: ("GET", f"{members}/{w.kept.member_id}", None)),
        Probe("update_organization_membership",
              lambda w, t: ("PATCH", f"{members}/{w.kept.member_id}", {"role": "admin"}),
              prepare=lambda w, t: _set_role(w, w.kept.member_id, "member"),
              effect=lambda w, t, _: _role(w, w.kept.member_id) == "admin"),
        Probe("remove_organization_member",
              lambda w, t: ("DELETE", f"{members}/{t.member_id}", None),
              effect=lambda w, t, _: _role(w, t.member_id) is None),
        Probe("list_organization_teams", lambda w, t: ("GET", teams, None)),
        Probe("get_organization_team", lambda w, t: ("GET", kept_team(w), None)),
        Probe("create_organization_team",
              lambda w, t: ("POST", teams, {"name": f"made-{t.n}"}),
              effect=lambda w, t, _: _team(w, f"made-{t.n}") is not None),
        Probe("update_organization_team",
              lambda w, t: ("PATCH", kept_team(w), {"description": f"probe {t.n}"}),
              effect=description),
        Probe("delete_organization_team", lambda w, t: ("DELETE", f"{teams}/{t.team}", None),
              effect=lambda w, t, _: _team(w, t.team) is None),
        Probe("list_organization_team_members",
              lambda w, t: ("GET", f"{kept_team(w)}/members", None)),
        Probe("get_organization_team_member",
              lambda w, t: ("GET", f"{kept_team(w)}/members/{w.kept.team_member_id}", None)),
        Probe("add_organization_team_member",
              lambda w, t: ("POST", f"{kept_team(w)}/members", {"user_id": w.kept.joiner_id}),
              prepare=joiner_in_team(False), effect=joiner_is_in_team(True)),
        Probe("remove_organization_team_member",
              lambda w, t: ("DELETE", f"{kept_team(w)}/members/{w.kept.joiner_id}", None),
              prepare=joiner_in_team(True), effect=joiner_is_in_team(False)),
    ]  # fmt: skip


def _service_token_probes() -> list[Probe]:
    tokens = f"{org_path()}/service-tokens"

    def kept(w: World) -> str:
        return f"{tokens}/{w.kept.service_token_id}"

    def holds(access: str, held: bool) -> Prepare:
        return lambda w, t: _set_kept_token_holds(w, access, held)

    def now_holds(access: str, held: bool) -> Effect:
        return lambda w, t, _: _kept_token_holds(w, access) is held

    return [
        Probe("list_service_tokens", lambda w, t: ("GET", tokens, None)),
        Probe("create_service_token", lambda w, t: ("POST", tokens, {"name": f"made-{t.n}"}),
              effect=lambda w, t, _: bool(_service_token_ids(w, f"made-{t.n}"))),
        Probe("get_service_token", lambda w, t: ("GET", kept(w), None)),
        Probe("delete_service_token",
              lambda w, t: ("DELETE", f"{tokens}/{t.service_token_id}", None),
              effect=lambda w, t, _: t.service_token_id not in _service_token_ids(w)),
        Probe("list_service_token_accesses", lambda w, t: ("GET", f"{kept(w)}/access", None)),
        Probe("list_service_token_grants", lambda w, t: ("GET", f"{kept(w)}/grants", None)),
        # a token grants only what it holds itself (else 422): the only tokens allowed to call
        # this hold write_service_tokens organization-wide, so that is what they grant
        Probe("add_service_token_accesses",
              lambda w, t: ("POST", f"{kept(w)}/access", {"access": ["write_service_tokens"]}),
              prepare=holds("write_service_tokens", False),
              effect=now_holds("write_service_tokens", True)),
        Probe("delete_service_token_accesses",
              lambda w, t: ("DELETE", f"{kept(w)}/access", {"access": ["read_service_tokens"]}),
              prepare=holds("read_service_tokens", True),
              effect=now_holds("read_service_tokens", False)),
    ]  # fmt: skip


def _oauth_probes() -> list[Probe]:
    """OAuth applications and the tokens they were issued."""
    apps = f"{org_path()}/oauth-applications"

    def app(w: World) -> str:
        return f"{apps}/{w.kept.application.id}"

    def fresh_refresh_token(w: World, t: Targets) -> str:
        """A refresh token for the kept token (the last success rotated it); returns the
        access token's hash, which a refresh replaces."""
        w.refresh_token = new_secret("pscale_oauth_refresh_")
        with store(w.client.app).tx() as s:
            token = s.get(OAuthToken, w.kept.oauth_token_id)
            assert token is not None
            token.refresh_token_hash = token_hash(w.refresh_token)
            return token.token_hash

    def refreshed(w: World, t: Targets, before: str) -> bool:
        token = _oauth_token(w, w.kept.oauth_token_id)
        return token is not None and token.token_hash != before

    def refresh(w: World, t: Targets) -> tuple[str, str, Any]:
        client = w.kept.application
        body = {"client_id": client.client_id, "client_secret": client.secret,
                "grant_type": "refresh_token", "refresh_token": w.refresh_token}  # fmt: skip
        return "POST", f"{app(w)}/token", body

    return [
        Probe("list_oauth_applications", lambda w, t: ("GET", apps, None)),
        Probe("get_oauth_application", lambda w, t: ("GET", app(w), None)),
        Probe("list_oauth_tokens", lambda w, t: ("GET", f"{app(w)}/tokens", None)),
        Probe("get_oauth_token",
              lambda w, t: ("GET", f"{app(w)}/tokens/{w.kept.oauth_token_id}", None)),
        Probe("delete_oauth_token",
              lambda w, t: ("DELETE", f"{app(w)}/tokens/{t.oauth_token_id}", None),
              effect=lambda w, t, _: _oauth_token(w, t.oauth_token_id) is None),
        Probe("create_oauth_token", refresh, prepare=fresh_refresh_token, effect=refreshed),
    ]  # fmt: skip


def _webhook_probes() -> list[Probe]:
    """Webhooks of shop."""
    hooks = f"{db_path('shop')}/webhooks"

    def kept(w: World) -> str:
        return f"{hooks}/{w.kept.webhook_id}"

    def kept_has(column: str, check: Callable[[Any], bool]) -> Effect:
        def effect(w: World, t: Targets, _: Any) -> bool:
            hook = _webhook(w, w.kept.webhook_id)
            assert hook is not None
            return check(getattr(hook, column))

        return effect

    return [
        Probe("list_webhooks", lambda w, t: ("GET", hooks, None)),
        Probe("get_webhook", lambda w, t: ("GET", kept(w), None)),
        Probe("create_webhook", lambda w, t: ("POST", hooks, {"url": f"{HOOK}made-{t.n}"}),
              effect=lambda w, t, _: bool(_webhook_ids(w, f"{HOOK}made-{t.n}"))),
        Probe("update_webhook", lambda w, t: ("PATCH", kept(w), {"enabled": True}),
              prepare=lambda w, t: _set_webhook(w, w.kept.webhook_id, enabled=False),
              effect=kept_has("enabled", lambda v: v is True)),
        # at most one test per webhook every 20 s: the last one is forgotten before each
        Probe("test_webhook", lambda w, t: ("POST", f"{kept(w)}/test", None),
              prepare=lambda w, t: _set_webhook(w, w.kept.webhook_id, last_tested_at=None),
              effect=kept_has("last_tested_at", lambda v: v is not None)),
        Probe("delete_webhook", lambda w, t: ("DELETE", f"{hooks}/{t.webhook_id}", None),
              effect=lambda w, t, _: _webhook(w, t.webhook_id) is None),
    ]  # fmt: skip


PROBES: list[Probe] = [
    *_organization_probes(),
    Probe("list_audit_logs", lambda w, t: ("GET", f"{org_path()}/audit-log", None)),
    *_people_probes(),
    *_service_token_probes(),
    *_oauth_probes(),
    *_webhook_probes(),
    *_branch_probes(True),
    *_branch_probes(False),
    *_promotion_probes(),
]


def test_the_matrix_calls_every_protected_operation(world: World) -> None:
    assert {p.op for p in PROBES} == set(RULES)
    assert {p.op for p in PROBES if p.person} == NEEDS_A_PERSON
    labels = [p.label for p in PROBES]
    assert len(labels) == len(set(labels))
    routes = implemented_operations(world.client.app)
    for op in RULES:
        where = {p.production for p in PROBES if p.op == op}
        on_a_branch = "{branch}" in routes[op][1]
        assert (None in where) is not on_a_branch, (op, where)
        pairs = set(PRODUCTION_SIBLING) | set(PRODUCTION_SIBLING_SCOPE)
        lists = expected(op)
        if on_a_branch and (lists.accesses | set().union(*lists.scopes.values())) & pairs:
            # a pair member is listed: the verdicts differ between the two kinds of branch
            assert where == {True, False}, op


def _targets(w: World) -> Targets:
    """Targets for the next probe: what the previous probe did not destroy, plus new ones."""
    w.counter += 1
    n, client, spare = w.counter, w.client, w.spare
    if spare is None or not _live_database(w, spare.victim):
        victim = create_db(client, f"victim-{n}")
        victim_name, victim_id = victim["name"], victim["id"]
    else:
        victim_name, victim_id = spare.victim, spare.victim_id
    passwords, roles, branches = {}, {}, {}
    for p in (True, False):
        if spare is not None and _live_credential(w, spare.password_ids[p]):
            passwords[p] = spare.password_ids[p]
        else:
            made = client.post(_pw(p), json={"name": f"doomed-{n}-{_tag(p)}"})
            assert made.status_code == 201, made.text
            passwords[p] = made.json()["id"]
        if spare is not None and _live_credential(w, spare.role_ids[p]):
            roles[p] = spare.role_ids[p]
        else:
            made = client.post(_roles(p), json={"name": f"doomed-{n}-{_tag(p)}"})
            assert made.status_code == 200, made.text
            roles[p] = made.json()["id"]
        if spare is not None and _branch(w, "shop", spare.branches[p]) is not None:
            branches[p] = spare.branches[p]
        else:
            branches[p] = f"{_tag(p)}v-{n}"
            made = client.post(f"{db_path('shop')}/branches", json={"name": branches[p]})
            assert made.status_code == 201, made.text
            if p:
                promoted = client.post(f"{branch_path('shop', branches[p])}/promote")
                assert promoted.json()["production"] is True, promoted.text
    w.spare = Targets(
        n, victim_name, victim_id, passwords, roles, branches, *_other_victims(w, n, spare)
    )
    return w.spare


def _other_victims(w: World, n: int, spare: Targets | None) -> tuple[str, str, str, str, str]:
    """A member, a team, a service token, an OAuth token and a webhook for the deletes."""
    client, app = w.client, w.client.app
    if spare is not None and _role(w, spare.member_id) is not None:
        member = spare.member_id
    else:
        member = add_user(app, f"victim-{n}@acme.test")  # type: ignore[arg-type]
    if spare is not None and _team(w, spare.team) is not None:
        team = spare.team
    else:
        made = client.post(f"{org_path()}/teams", json={"name": f"victim-{n}"})
        assert made.status_code == 200, made.text
        team = made.json()["slug"]
    if spare is not None and spare.service_token_id in _service_token_ids(w):
        token = spare.service_token_id
    else:
        made = client.post(f"{org_path()}/service-tokens", json={"name": f"victim-{n}"})
        assert made.status_code == 200, made.text
        token = made.json()["id"]
    if spare is not None and _oauth_token(w, spare.oauth_token_id) is not None:
        oauth = spare.oauth_token_id
    else:
        oauth = _application_token(app, w.kept.application)  # type: ignore[arg-type]
    if spare is not None and _webhook(w, spare.webhook_id) is not None:
        hook = spare.webhook_id
    else:
        made = client.post(f"{db_path('shop')}/webhooks", json={"url": f"{HOOK}victim-{n}"})
        assert made.status_code == 201, made.text
        hook = made.json()["id"]
    return member, team, token, oauth, hook


def _probe(
    w: World,
    t: Targets,
    headers: dict[str, str],
    may: Callable[[str, bool], bool],
    person: dict[str, str] | None = None,
) -> None:
    """``person``: the headers for ``Probe.person`` probes (None: ``headers`` themselves)."""
    problems = []
    for probe in PROBES:
        before = (probe.prepare or _no_prepare)(w, t)
        method, url, body = probe.call(w, t)
        kwargs = {"json": body} if body is not None else {}
        caller = person if probe.person and person is not None else headers
        response = w.client.request(method, url, headers=caller, **kwargs)
        allowed = may(probe.op, bool(probe.production))
        if allowed:
            if response.status_code != _success(probe.op):
                problems.append(f"{probe.label}: allowed by the spec, got "
                                f"{response.status_code} {response.text[:160]}")  # fmt: skip
            elif probe.op not in OUTSIDE_SPEC_SUCCESS:
                assert_matches_spec(
                    BODY_LIKE.get(probe.op, probe.op),
                    response.status_code,
                    response.json() if response.content else None,
                )
        elif response.status_code != 404 or response.json().get("code") != "not_found":
            problems.append(f"{probe.label}: not allowed by the spec, got "
                            f"{response.status_code} {response.text[:160]}")  # fmt: skip
        if probe.effect is not None and probe.effect(w, t, before) is not allowed:
            happened = "did not happen" if allowed else "happened"
            problems.append(f"{probe.label}: the change {happened}")
    assert not problems, "\n".join(problems)

    # leave the shared installation as small as it was
    assert w.client.delete(db_path(f"made-{t.n}")).status_code in (204, 404)
    made = f"{db_path('shop')}/branches/made-{t.n}"
    assert w.client.delete(made).status_code in (204, 404)
    assert w.client.delete(f"{org_path()}/teams/made-{t.n}").status_code in (204, 404)
    for token_id in _service_token_ids(w, f"made-{t.n}"):
        assert w.client.delete(f"{org_path()}/service-tokens/{token_id}").status_code == 204
    for hook_id in _webhook_ids(w, f"{HOOK}made-{t.n}"):  # at most 5 per database
        assert w.client.delete(f"{db_path('shop')}/webhooks/{hook_id}").status_code == 204


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
    _probe(world, t, headers, lambda op, production: service_token_may(op, access, production))


def _scopes_of_implemented_operations() -> list[tuple[str, str]]:
    found = {
        (level, scope) for op in RULES for level, names in expected(op).scopes.items()
        for scope in names
    }  # fmt: skip
    # and some no implemented operation accepts (read_members: the spec's members operations
    # ask for read_organization)
    unused = {("organization", "read_invoices"), ("organization", "read_members"),
              ("user", "write_user")}  # fmt: skip
    assert not found & unused
    return sorted(found | unused)


@pytest.mark.parametrize("level,scope", _scopes_of_implemented_operations(), ids=lambda v: str(v))
def test_oauth_token_with_one_scope(world: World, level: str, scope: str) -> None:
    """Issued to no person (it acts for the organization); NEEDS_A_PERSON operations are
    called with a token of the same scope issued to the first administrator."""
    t = _targets(world)
    app: FastAPI = world.client.app  # type: ignore[assignment]
    headers = oauth_token(app, [f"{level}:{scope}"])
    person = user_token(app, world.kept.person_id, [f"{level}:{scope}"])
    _probe(
        world, t, headers, lambda op, production: oauth_may(op, level, scope, production), person
    )


def test_the_matrix_is_not_vacuous() -> None:
    """Every probe is allowed by some single access and refused by another (when the spec
    lists accesses at all); the same for scopes."""
    scopes = _scopes_of_implemented_operations()
    for probe in PROBES:
        production = bool(probe.production)
        if expected(probe.op).accesses:
            verdicts = {service_token_may(probe.op, a, production) for a in ACCESSES}
            assert verdicts == {True, False}, probe.label
        verdicts = {oauth_may(probe.op, lvl, s, production) for lvl, s in scopes}
        if expected(probe.op).scopes:
            assert verdicts == {True, False}, probe.label
        else:  # the spec gives no scope: no OAuth token may call it (auth.py)
            assert verdicts == {False}, probe.label
