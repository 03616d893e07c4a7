"""Helpers for the API tests that run against the fake provisioner (no database servers).

Everything that waits polls with a deadline: the reconciler runs in a background thread, so a
test never assumes how long it takes, only how long it may take at most.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moonbase.api.access import DATABASE_ACCESSES, ORG_ACCESSES
from moonbase.app import create_app
from moonbase.bootstrap import grant_all
from moonbase.ids import new_id, new_secret, token_hash
from moonbase.models import (
    Branch,
    Database,
    OAuthToken,
    Organization,
    ServiceToken,
    ServiceTokenAccess,
)
from moonbase.provisioners.fake import FakeProvisioner
from moonbase.settings import Settings

from helpers import ADMIN, ADMIN_ID, ADMIN_SECRET, make_dir  # tests/helpers.py

ORG = "acme"

ID_RE = re.compile(r"^[a-z0-9]{12}$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

#: default upper bound for anything the reconciler does with the fake (it has no servers)
WAIT = 10.0

T = TypeVar("T")


# --- waiting -----------------------------------------------------------------------------


def wait_until(
    probe: Callable[[], T], timeout: float = WAIT, interval: float = 0.02, what: str = ""
) -> T:
    """Call ``probe`` until it returns something truthy; return that, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what or probe}; last value: {last!r}"
            )
        time.sleep(interval)


# --- installations -----------------------------------------------------------------------


def settings_for(home: Path, **changes: object) -> Settings:
    """The same installation as ``tests/conftest.py``'s ``api`` fixture (org ``acme``)."""
    base = Settings(
        home=home,
        organization=ORG,
        admin_token_id=ADMIN_ID,
        admin_token=ADMIN_SECRET,
        reconcile_interval=0.05,
        health_interval=0.2,
    )
    return base.with_(**changes) if changes else base


@contextmanager
def installation(**changes: object) -> Iterator[tuple[TestClient, FakeProvisioner]]:
    """A throwaway installation on the fake provisioner, admin token in the client's headers."""
    home = make_dir("moonbase-apitest-")
    fake = FakeProvisioner()
    try:
        app = create_app(settings_for(home, **changes), lambda _s: fake)
        with TestClient(app, base_url="http://testserver") as client:
            client.headers.update(ADMIN)
            yield client, fake
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --- paths and common calls --------------------------------------------------------------


def org_path(org: str = ORG) -> str:
    return f"/v1/organizations/{org}"


def db_path(db: str, org: str = ORG) -> str:
    return f"{org_path(org)}/databases/{db}"


def branch_path(db: str, branch: str = "main", org: str = ORG) -> str:
    return f"{db_path(db, org)}/branches/{branch}"


def create_db(client: TestClient, name: str, kind: str = "mysql", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "cluster_size": "PS_10", "kind": kind, **extra}
    response = client.post(f"{org_path()}/databases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def get_branch(client: TestClient, db: str, branch: str = "main") -> dict[str, Any]:
    response = client.get(branch_path(db, branch))
    assert response.status_code == 200, response.text
    return response.json()


def wait_ready(client: TestClient, db: str, timeout: float = WAIT) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        body = client.get(db_path(db)).json()
        return body if body.get("ready") else None

    return wait_until(ready, timeout, what=f"database {db} to be ready")


def ready_db(client: TestClient, name: str, kind: str = "mysql", **extra: Any) -> dict[str, Any]:
    create_db(client, name, kind, **extra)
    return wait_ready(client, name)


def branches_path(db: str, org: str = ORG) -> str:
    return f"{db_path(db, org)}/branches"


def create_branch(client: TestClient, db: str, name: str, **extra: Any) -> dict[str, Any]:
    response = client.post(branches_path(db), json={"name": name, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def wait_branch_ready(
    client: TestClient, db: str, branch: str, timeout: float = WAIT
) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        body = get_branch(client, db, branch)
        return body if body.get("ready") else None

    return wait_until(ready, timeout, what=f"branch {db}/{branch} to be ready")


def ready_branch(client: TestClient, db: str, name: str, **extra: Any) -> dict[str, Any]:
    create_branch(client, db, name, **extra)
    return wait_branch_ready(client, db, name)


def list_all_names(client: TestClient) -> list[str]:
    response = client.get(f"{org_path()}/databases", params={"per_page": 100})
    assert response.status_code == 200, response.text
    return [d["name"] for d in response.json()["data"]]


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """An error in PlanetScale's shape: exactly ``{"code", "message"}``."""
    assert response.status_code == status, (
        f"expected {status} {code}, got {response.status_code}: {response.text}"
    )
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


# --- the store, directly -----------------------------------------------------------------


def store(app: FastAPI):  # type: ignore[no-untyped-def]
    return app.state.store


def org_id(app: FastAPI, name: str = ORG) -> str:
    with store(app).tx() as s:
        found = s.scalar(select(Organization.id).where(Organization.name == name))
    assert found is not None, name
    return found


def db_id(app: FastAPI, name: str, org: str = ORG) -> str:
    with store(app).tx() as s:
        found = s.scalar(
            select(Database.id).where(
                Database.organization_id
                == select(Organization.id).where(Organization.name == org).scalar_subquery(),
                Database.name == name,
                Database.deleted_at.is_(None),
            )
        )
    assert found is not None, name
    return found


def row_counts(app: FastAPI) -> tuple[int, int]:
    """(databases, branches) rows in the store, deleted ones included."""
    with store(app).tx() as s:
        return (
            s.scalar(select(func.count()).select_from(Database)) or 0,
            s.scalar(select(func.count()).select_from(Branch)) or 0,
        )


def add_organization(app: FastAPI, name: str) -> tuple[str, dict[str, str]]:
    """A second organization with its own all-access service token: (org id, headers)."""
    with store(app).tx() as s:
        org = Organization(name=name, default_region="us-east")
        s.add(org)
        s.flush()
        secret = new_secret("pscale_tkn_")
        token = ServiceToken(
            id=new_id(), organization_id=org.id, name="admin", token_hash=token_hash(secret)
        )
        grant_all(token, org.id)
        s.add(token)
        s.flush()
        return org.id, {"Authorization": f"{token.id}:{secret}"}


def service_token(
    app: FastAPI,
    grants: Iterable[tuple[str, str, str]],
    *,
    organization_id: str | None = None,
    expires_at: datetime | None = None,
) -> dict[str, str]:
    """A service token holding exactly ``grants``: (access, resource_type, resource_id)."""
    organization_id = organization_id or org_id(app)
    secret = new_secret("pscale_tkn_")
    with store(app).tx() as s:
        token = ServiceToken(
            id=new_id(),
            organization_id=organization_id,
            name="test",
            token_hash=token_hash(secret),
            expires_at=expires_at,
        )
        for access, resource_type, resource_id in grants:
            token.accesses.append(
                ServiceTokenAccess(
                    access=access, resource_type=resource_type, resource_id=resource_id
                )
            )
        s.add(token)
        s.flush()
        return {"Authorization": f"{token.id}:{secret}"}


def grants_for(
    access: str, organization_id: str, database_ids: Iterable[str]
) -> list[tuple[str, str, str]]:
    """One access where it belongs: organization accesses on the organization, database
    accesses on each of ``database_ids`` (not on "all databases")."""
    if access in ORG_ACCESSES:
        return [(access, "Organization", organization_id)]
    assert access in DATABASE_ACCESSES, access
    return [(access, "Database", d) for d in database_ids]


def oauth_token(
    app: FastAPI,
    scopes: list[str],
    *,
    database_id: str | None = None,
    organization_id: str | None = None,
    expires_at: datetime | None = None,
) -> dict[str, str]:
    secret = new_secret("pscale_oauth_")
    with store(app).tx() as s:
        s.add(
            OAuthToken(
                organization_id=organization_id or org_id(app),
                token_hash=token_hash(secret),
                scopes=scopes,
                database_id=database_id,
                expires_at=expires_at,
            )
        )
    return {"Authorization": f"Bearer {secret}"}


# --- the app's operations ----------------------------------------------------------------


def implemented_operations(app: FastAPI) -> dict[str, tuple[str, str]]:
    """operation_id -> (METHOD, path) of every route of ``app`` that has an operation_id.

    Walks ``app.routes`` (FastAPI >= 0.16x keeps included routers as lazy entries, hence
    ``iter_route_contexts`` when it exists) and cross-checks with the generated OpenAPI
    document, so a route hidden from the schema is still found.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is flat
        contexts = [(r, getattr(r, "path", None), getattr(r, "methods", None)) for r in app.routes]
    else:
        contexts = [(c.original_route, c.path, c.methods) for c in iter_route_contexts(app.routes)]
    found: dict[str, tuple[str, str]] = {}
    for route, path, methods in contexts:
        op_id = getattr(route, "operation_id", None)
        if not op_id:
            continue
        verbs = sorted(set(methods or ()) - {"HEAD", "OPTIONS"})
        assert len(verbs) == 1, (op_id, verbs)
        assert op_id not in found, f"operation_id {op_id} is used by two routes"
        found[op_id] = (verbs[0], path)
    from_schema = {
        op["operationId"]: (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method, op in item.items()
        if "operationId" in op
    }
    assert found == from_schema, "routes and the OpenAPI document disagree"
    return found


# --- walking response bodies -------------------------------------------------------------


def walk(node: Any, path: str = "$") -> Iterator[tuple[str, str, Any]]:
    """Every (path, key, value) of every object in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from walk(item, f"{path}[{i}]")
