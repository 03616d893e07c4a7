"""The audit log records every change made through the API, in the change's transaction:
who (actor), what (action, target), where it belongs (auditable), the request's non-secret
fields and the caller's address; a failed request records nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from audit_support import audit_entries, audit_page, stored_count
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from moonbase.api.deps import Ctx
from moonbase.errors import Conflict
from moonbase.ids import token_hash
from moonbase.models import OAuthToken, Organization
from moonbase.resources.audit_logs.actions import action_for
from moonbase.resources.audit_logs.redaction import is_secret, request_metadata

from api_support import (
    ADMIN_ID,
    TIMESTAMP_RE,
    add_organization,
    assert_error,
    branch_path,
    create_branch,
    db_path,
    installation,
    oauth_token,
    org_id,
    org_path,
    ready_db,
    service_token,
    store,
    wait_branch_ready,
)
from people_support import admin_user_id, user_token


@pytest.fixture
def world() -> Iterator[tuple[TestClient, FastAPI]]:
    with installation() as (client, _fake):
        yield client, client.app  # type: ignore[misc]


def test_each_kind_of_change_is_recorded(world: tuple[TestClient, FastAPI]) -> None:
    api, _app = world
    db = ready_db(api, "shop")
    branch = create_branch(api, "shop", "dev")
    wait_branch_ready(api, "shop", "dev")
    response = api.post(f"{branch_path('shop', 'dev')}/passwords", json={"name": "app"})
    assert response.status_code == 201, response.text
    password = response.json()
    assert api.patch(db_path("shop"), json={"deletion_protected": False}).status_code == 200
    pw_url = f"{branch_path('shop', 'dev')}/passwords/{password['id']}"
    assert api.delete(pw_url).status_code == 204
    assert api.delete(branch_path("shop", "dev")).status_code == 204
    assert api.patch(org_path(), json={"billing_email": "ops@example.com"}).status_code == 200
    assert api.delete(db_path("shop")).status_code == 204

    entries = audit_entries(api)
    expected = [  # newest first: (action, verb, target type, target id, target name)
        ("database.deleted", "deleted", "Database", db["id"], "shop"),
        ("organization.updated", "updated", "Organization", None, "acme"),
        ("branch.deleted", "deleted", "DatabaseBranch", branch["id"], "dev"),
        ("password.deleted", "deleted", "DatabaseBranchPassword", password["id"], "app"),
        ("database.updated", "updated", "Database", db["id"], "shop"),
        ("password.created", "created", "DatabaseBranchPassword", password["id"], "app"),
        ("branch.created", "created", "DatabaseBranch", branch["id"], "dev"),
        ("database.created", "created", "Database", db["id"], "shop"),
    ]
    assert [e["audit_action"] for e in entries] == [x[0] for x in expected]
    for entry, (action, verb, target_type, target_id, target_name) in zip(
        entries, expected, strict=True
    ):
        assert entry["action"] == verb
        assert (entry["actor_id"], entry["actor_type"]) == (ADMIN_ID, "ServiceToken")
        assert entry["actor_display_name"] == "admin", "the token's name"
        assert entry["target_type"] == target_type, action
        if target_id is not None:
            assert entry["target_id"] == target_id, action
        assert entry["target_display_name"] == target_name, action
        assert entry["remote_ip"] == "testclient"
        assert TIMESTAMP_RE.match(entry["created_at"]), entry
        if target_type == "Organization":
            assert entry["auditable_type"] == "Organization"
            assert entry["auditable_display_name"] == "acme"
        else:  # the database the change belongs to, even once it is deleted
            assert (entry["auditable_type"], entry["auditable_id"]) == ("Database", db["id"])
            assert entry["auditable_display_name"] == "shop"
    by_action = {e["audit_action"]: e for e in entries}
    assert by_action["database.created"]["metadata"] == {
        "name": "shop", "cluster_size": "PS_10", "kind": "mysql"
    }  # fmt: skip
    assert by_action["branch.created"]["metadata"] == {"name": "dev"}
    assert by_action["database.updated"]["metadata"] == {"deletion_protected": False}
    assert by_action["organization.updated"]["metadata"] == {"billing_email": "ops@example.com"}
    assert by_action["database.deleted"]["metadata"] == {}


def test_actors_are_named(world: tuple[TestClient, FastAPI]) -> None:
    api, app = world
    oid = org_id(app)
    token = service_token(app, [("create_databases", "Organization", oid)])
    assert api.post(f"{org_path()}/databases", headers=token,
                    json={"name": "a", "cluster_size": "PS_10"}).status_code == 201  # fmt: skip
    oauth = oauth_token(app, ["organization:create_databases"])
    assert api.post(f"{org_path()}/databases", headers=oauth,
                    json={"name": "b", "cluster_size": "PS_10"}).status_code == 201  # fmt: skip
    with store(app).tx() as s:
        oauth_id = s.scalar(
            select(OAuthToken.id).where(
                OAuthToken.token_hash == token_hash(oauth["Authorization"][7:])
            )
        )
    newest, older = audit_entries(api)[:2]
    assert (newest["actor_type"], newest["actor_id"]) == ("OAuthToken", oauth_id)
    assert newest["actor_display_name"]  # a token without a name or user: its id
    assert older["actor_type"] == "ServiceToken"
    assert older["actor_id"] == token["Authorization"].partition(":")[0]
    assert older["actor_display_name"] == "test"
    assert token["Authorization"].partition(":")[2] not in json.dumps(audit_entries(api))


def test_failed_requests_record_nothing(world: tuple[TestClient, FastAPI]) -> None:
    api, app = world
    ready_db(api, "shop")
    before = audit_entries(api)
    stored = stored_count(app)
    databases = f"{org_path()}/databases"
    failures = [
        api.post(databases, json={"name": "x"}),  # no cluster_size
        api.post(databases, json={"name": "shop", "cluster_size": "PS_10"}),  # taken
        api.post(databases, json={"name": "Bad Name!", "cluster_size": "PS_10"}),
        api.post(databases, content=b"{not json", headers={"content-type": "application/json"}),
        api.delete(db_path("nope")),
        api.post(databases, json={"name": "y", "cluster_size": "PS_10"},
                 headers={"Authorization": f"{ADMIN_ID}:wrong"}),  # fmt: skip
        api.post(databases, json={"name": "z", "cluster_size": "PS_10"},
                 headers=service_token(app, [])),  # no access  # fmt: skip
        api.post(f"{branch_path('shop')}/passwords", json={"name": "p", "role": "boss"}),
        api.patch(org_path(), json={"billing_email": 5}),
    ]
    for response in failures:
        assert 400 <= response.status_code < 500, response.text
    api.get(db_path("shop"))  # reads are not changes
    assert audit_entries(api) == before
    assert stored_count(app) == stored


def _raising_route(app: FastAPI, *, commit_first: bool) -> str:
    """A change endpoint that changes the organization, then fails (after committing, like the
    OAuth token endpoint when it revokes a reused code's token, or before)."""
    path = f"/v1/organizations/{{organization}}/explode-{int(commit_first)}"

    def explode(ctx: Ctx, organization: str) -> None:
        org = ctx.organization(organization, "update_organization")
        org.billing_email = f"changed-{int(commit_first)}@example.com"
        ctx.session.flush()
        if commit_first:
            ctx.commit()
        raise Conflict("it went wrong after the change")

    app.add_api_route(path, explode, methods=["POST"], operation_id=f"explode_{int(commit_first)}")
    return path.replace("{organization}", "acme")


@pytest.mark.parametrize("commit_first", [False, True])
def test_an_endpoint_that_fails_after_changing_leaves_no_entry(
    world: tuple[TestClient, FastAPI], commit_first: bool
) -> None:
    api, app = world
    url = _raising_route(app, commit_first=commit_first)
    assert_error(api.post(url), 409, "conflict")
    assert stored_count(app) == 0
    with store(app).tx() as s:
        email = s.scalar(select(Organization.billing_email).where(Organization.name == "acme"))
    # the entry goes with the change when the change rolls back (the same transaction); an
    # endpoint that commits on purpose before failing keeps its change, but a failed request
    # never leaves an entry
    assert (email == "changed-1@example.com") is commit_first


def test_a_request_that_commits_early_is_recorded_once(world: tuple[TestClient, FastAPI]) -> None:
    """Creating a password on a ready branch commits, waits for the server, then answers."""
    api, app = world
    ready_db(api, "shop")
    count = stored_count(app)
    assert api.post(f"{branch_path('shop')}/passwords", json={"name": "x"}).status_code == 201
    assert stored_count(app) == count + 1


def test_no_secret_reaches_the_log(world: tuple[TestClient, FastAPI]) -> None:
    api, _app = world
    secrets = [f"s3cr3t-value-{i}" for i in range(12)]
    body: dict[str, Any] = {
        "name": "vault",
        "cluster_size": "PS_10",
        "password": secrets[0],
        "plain_text": secrets[1],
        "token": secrets[2],
        "secret": secrets[3],
        "client_secret": secrets[4],
        "refresh_token": secrets[5],
        "code": secrets[6],
        "Authorization": secrets[7],
        "nested": {"admin_password": secrets[8], "items": [{"api_token": secrets[9]}]},
        "webhook_url": f"https://user:{secrets[10]}@hooks.example.com/x",
        "Client_Secret": secrets[11],
    }
    assert api.post(f"{org_path()}/databases", json=body).status_code == 201
    pw = api.post(f"{branch_path('vault')}/passwords", json={"name": "p"})
    assert pw.status_code == 201, pw.text
    secrets.append(pw.json()["plain_text"])
    page = api.get(f"{org_path()}/audit-log").text
    for secret in secrets:
        assert secret not in page, secret
    created = audit_entries(api, **{"filters[]": "audit_action:database.created"})[0]
    assert created["metadata"] == {
        "name": "vault",
        "cluster_size": "PS_10",
        "nested": {"items": [{}]},
        "webhook_url": "https://user:[FILTERED]@hooks.example.com/x",
    }


def test_redaction_rules() -> None:
    secret_keys = (
        "password", "PASSWORD", "db_password", "plain_text", "token", "access_token",
        "refresh_token", "client_secret", "webhook_secret", "code", "private_key",
    )  # fmt: skip
    for key in secret_keys:
        assert is_secret(key), key
    for key in ("name", "token_id", "service_token_id", "role", "cluster_size", "url"):
        assert not is_secret(key), key
    assert request_metadata(b"") == {}
    assert request_metadata(b"not json") == {}
    assert request_metadata(b'["a", {"password": "x"}]') == {"body": ["a", {}]}
    long = request_metadata(json.dumps({"name": "x" * 5000}).encode())["name"]
    assert len(long) < 1100


def test_action_names() -> None:
    assert action_for("create_database", "POST") == "database.created"
    assert action_for("delete_branch", "DELETE") == "branch.deleted"
    assert action_for("promote_branch", "POST") == "branch.promoted"
    assert action_for("create_password", "POST") == "password.created"
    assert action_for("create_service_token", "POST") == "service_token.created"
    assert action_for("add_service_token_accesses", "POST") == "service_token.granted_access"
    assert action_for("delete_service_token_accesses", "DELETE") == (
        "service_token.revoked_access"
    )
    assert action_for("remove_organization_member", "DELETE") == "organization.removed_member"
    assert action_for("reset_role", "POST") == "role.reset"
    assert action_for("queue_deploy_request", "POST") == "deploy_request.queued"
    assert action_for("apply_thing", "POST") == "thing.applied"
    assert action_for("workflow_retry", "PATCH") == "workflow.retried"


def test_service_token_changes(world: tuple[TestClient, FastAPI]) -> None:
    api, app = world
    response = api.post(f"{org_path()}/service-tokens", json={"name": "deployer"})
    assert response.status_code == 200, response.text
    token = response.json()
    granted = api.post(f"{org_path()}/service-tokens/{token['id']}/access",
                       json={"access": ["read_audit_logs"]})  # fmt: skip
    assert granted.status_code == 200, granted.text
    assert api.delete(f"{org_path()}/service-tokens/{token['id']}").status_code == 204
    entries = audit_entries(api)
    assert [e["audit_action"] for e in entries] == [
        "service_token.deleted", "service_token.granted_access", "service_token.created"
    ]  # fmt: skip
    for entry in entries:
        assert (entry["target_type"], entry["target_id"]) == ("ServiceToken", token["id"])
        assert entry["target_display_name"] == "deployer"
        assert entry["auditable_type"] == "Organization"
    assert entries[1]["metadata"] == {"access": ["read_audit_logs"]}
    assert token["token"] not in json.dumps(entries)


def test_reading_the_log_takes_read_audit_logs(world: tuple[TestClient, FastAPI]) -> None:
    api, app = world
    oid = org_id(app)
    api.patch(org_path(), json={"billing_email": "a@example.com"})
    reader = service_token(app, [("read_audit_logs", "Organization", oid)])
    assert len(audit_page(api)["data"]) == 1
    response = api.get(f"{org_path()}/audit-log", headers=reader)
    assert response.status_code == 200 and len(response.json()["data"]) == 1
    other = service_token(app, [("read_organization", "Organization", oid)])
    assert_error(api.get(f"{org_path()}/audit-log", headers=other), 404, "not_found")
    _, stranger = add_organization(app, "globex")
    assert_error(api.get(f"{org_path()}/audit-log", headers=stranger), 404, "not_found")
    own = api.get(f"{org_path('globex')}/audit-log", headers=stranger)
    assert own.status_code == 200 and own.json()["data"] == [], "acme's entries stay acme's"


def test_people_act_through_oauth_and_cannot_read_the_log(
    world: tuple[TestClient, FastAPI],
) -> None:
    """An OAuth token issued to a person is named after the person; the spec gives reading
    the log no OAuth scope, so it is for service tokens only (PlanetScale: administrators)."""
    api, app = world
    scopes = ["organization:read_organization", "organization:write_organization"]
    admin = user_token(app, admin_user_id(app), scopes)
    assert api.patch(org_path(), headers=admin, json={"billing_email": "b@example.com"}).is_success
    entry = audit_entries(api)[0]
    assert (entry["actor_type"], entry["actor_display_name"]) == ("OAuthToken", "Administrator")
    assert_error(api.get(f"{org_path()}/audit-log", headers=admin), 404, "not_found")
