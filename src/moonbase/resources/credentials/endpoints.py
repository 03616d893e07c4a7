from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from moonbase.api.deps import Context, Ctx
from moonbase.api.pagination import PageDep, envelope
from moonbase.errors import Unprocessable
from moonbase.models import Branch, BranchState, Credential, Database
from moonbase.resources.credentials import repository, service
from moonbase.resources.credentials.schemas import (
    PasswordCreate,
    PasswordUpdate,
    Reassign,
    RoleCreate,
    RoleUpdate,
    password_json,
    role_json,
)

BRANCH = "/organizations/{organization}/databases/{database}/branches/{branch}"
router = APIRouter(prefix=BRANCH)

#: how long a create waits for the login to exist on a ready server before answering
APPLY_WAIT = 10.0


def _host_url(ctx: Context, cred: Credential) -> str:
    ports = repository.ports(ctx.session, cred.branch_id)
    if not ports:
        return ctx.settings.advertise_host
    port = ports[1] if cred.replica and len(ports) > 1 else ports[0]
    return f"{ctx.settings.advertise_host}:{port}"


def _wait_applied(ctx: Context, branch: Branch, cred: Credential) -> None:
    """Answer once the login works, so a client can connect right away (branch ready)."""
    ctx.settle(branch.state == BranchState.READY, lambda: cred.applied_at is not None, APPLY_WAIT)


# --- MySQL passwords ----------------------------------------------------------------------


@router.get("/passwords", operation_id="list_passwords")
def list_passwords(
    ctx: Ctx, organization: str, database: str, branch: str, page: PageDep
) -> dict[str, Any]:
    db, br = ctx.branch(organization, database, branch, "list_passwords")
    rows, total = repository.page(ctx.session, br.id, "password", page.offset, page.per_page)
    items = [password_json(c, br, db, ctx.settings, _host_url(ctx, c)) for c in rows]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.post("/passwords", operation_id="create_password", status_code=201)
def create_password(
    ctx: Ctx, organization: str, database: str, branch: str, body: PasswordCreate
) -> dict[str, Any]:
    db, br = ctx.branch(organization, database, branch, "create_password")
    cred, plain = service.create_password(ctx.session, db, br, body, ctx.principal.actor_id)
    _wait_applied(ctx, br, cred)
    return password_json(cred, br, db, ctx.settings, _host_url(ctx, cred), plain_text=plain)


@router.get("/passwords/{id}", operation_id="get_password")
def get_password(
    ctx: Ctx, organization: str, database: str, branch: str, id: str
) -> dict[str, Any]:
    db, br = ctx.branch(organization, database, branch, "get_password")
    cred = repository.get(ctx.session, br.id, "password", id)
    return password_json(cred, br, db, ctx.settings, _host_url(ctx, cred))


@router.patch("/passwords/{id}", operation_id="update_password")
def update_password(
    ctx: Ctx, organization: str, database: str, branch: str, id: str, body: PasswordUpdate
) -> dict[str, Any]:
    db, br = ctx.branch(organization, database, branch, "update_password")
    cred = repository.get(ctx.session, br.id, "password", id)
    service.update_password(ctx.session, cred, body)
    _wait_applied(ctx, br, cred)
    return password_json(cred, br, db, ctx.settings, _host_url(ctx, cred))


@router.post("/passwords/{id}/renew", operation_id="renew_password")
def renew_password(
    ctx: Ctx, organization: str, database: str, branch: str, id: str
) -> dict[str, Any]:
    db, br = ctx.branch(organization, database, branch, "renew_password")
    cred = repository.get(ctx.session, br.id, "password", id)
    service.renew(ctx.session, cred)
    return password_json(cred, br, db, ctx.settings, _host_url(ctx, cred))


@router.delete("/passwords/{id}", operation_id="delete_password", status_code=204)
def delete_password(ctx: Ctx, organization: str, database: str, branch: str, id: str) -> Response:
    _, br = ctx.branch(organization, database, branch, "delete_password")
    service.delete(ctx.session, repository.get(ctx.session, br.id, "password", id))
    ctx.wake_reconciler()
    return Response(status_code=204)


# --- PostgreSQL roles ---------------------------------------------------------------------


@router.get("/roles", operation_id="list_roles")
def list_roles(
    ctx: Ctx, organization: str, database: str, branch: str, page: PageDep
) -> dict[str, Any]:
    _, br = ctx.branch(organization, database, branch, "list_roles")
    rows, total = repository.page(ctx.session, br.id, "role", page.offset, page.per_page)
    items = [role_json(c, br, _host_url(ctx, c)) for c in rows]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.post("/roles", operation_id="create_role")
def create_role(
    ctx: Ctx, organization: str, database: str, branch: str, body: RoleCreate
) -> dict[str, Any]:
    db, br = ctx.branch(organization, database, branch, "create_role")
    cred, plain = service.create_role(ctx.session, db, br, body, ctx.principal.actor_id)
    _wait_applied(ctx, br, cred)
    return role_json(cred, br, _host_url(ctx, cred), password=plain)


@router.get("/roles/default", operation_id="get_default_role")
def get_default_role(ctx: Ctx, organization: str, database: str, branch: str) -> dict[str, Any]:
    db, br = ctx.branch(organization, database, branch, "get_default_role")
    _only_postgresql(db)
    cred = service.default_role(ctx.session, br)
    return role_json(cred, br, _host_url(ctx, cred))


@router.post("/roles/reset-default", operation_id="reset_default_role")
def reset_default_role(ctx: Ctx, organization: str, database: str, branch: str) -> dict[str, Any]:
    db, br = ctx.branch(organization, database, branch, "reset_default_role")
    _only_postgresql(db)
    cred = service.default_role(ctx.session, br)
    plain = service.reset_password(ctx.session, cred)
    _wait_applied(ctx, br, cred)
    return role_json(cred, br, _host_url(ctx, cred), password=plain)


@router.get("/roles/{id}", operation_id="get_role")
def get_role(ctx: Ctx, organization: str, database: str, branch: str, id: str) -> dict[str, Any]:
    _, br = ctx.branch(organization, database, branch, "get_role")
    cred = repository.get(ctx.session, br.id, "role", id)
    return role_json(cred, br, _host_url(ctx, cred))


@router.patch("/roles/{id}", operation_id="update_role")
def update_role(
    ctx: Ctx, organization: str, database: str, branch: str, id: str, body: RoleUpdate
) -> dict[str, Any]:
    _, br = ctx.branch(organization, database, branch, "update_role")
    cred = repository.get(ctx.session, br.id, "role", id)
    service.update_role(ctx.session, cred, body)
    _wait_applied(ctx, br, cred)
    return role_json(cred, br, _host_url(ctx, cred))


@router.post("/roles/{id}/renew", operation_id="renew_role")
def renew_role(ctx: Ctx, organization: str, database: str, branch: str, id: str) -> dict[str, Any]:
    _, br = ctx.branch(organization, database, branch, "renew_role")
    cred = repository.get(ctx.session, br.id, "role", id)
    service.renew(ctx.session, cred)
    return role_json(cred, br, _host_url(ctx, cred))


@router.post("/roles/{id}/reset", operation_id="reset_role")
def reset_role(ctx: Ctx, organization: str, database: str, branch: str, id: str) -> dict[str, Any]:
    _, br = ctx.branch(organization, database, branch, "reset_role")
    cred = repository.get(ctx.session, br.id, "role", id)
    plain = service.reset_password(ctx.session, cred)
    _wait_applied(ctx, br, cred)
    return role_json(cred, br, _host_url(ctx, cred), password=plain)


@router.post("/roles/{id}/reassign", operation_id="reassign_role_objects", status_code=204)
def reassign_role_objects(
    ctx: Ctx, organization: str, database: str, branch: str, id: str, body: Reassign
) -> Response:
    _, br = ctx.branch(organization, database, branch, "reassign_role_objects")
    cred = repository.get(ctx.session, br.id, "role", id)
    service.reassign(ctx.session, cred, service.resolve_successor(ctx.session, br, body.successor))
    ctx.settle(br.state == BranchState.READY, lambda: cred.reassign_to is None, APPLY_WAIT)
    return Response(status_code=204)


@router.delete("/roles/{id}", operation_id="delete_role", status_code=204)
def delete_role(
    ctx: Ctx,
    organization: str,
    database: str,
    branch: str,
    id: str,
    successor: Annotated[str | None, Query()] = None,
) -> Response:
    _, br = ctx.branch(organization, database, branch, "delete_role")
    cred = repository.get(ctx.session, br.id, "role", id)
    service.delete_role(ctx.session, cred, service.resolve_successor(ctx.session, br, successor))
    cred_id = cred.id

    def settled() -> bool:
        row = ctx.session.get(Credential, cred_id)
        return row is None or row.drop_error is not None

    ctx.settle(br.state == BranchState.READY, settled, APPLY_WAIT)
    row = ctx.session.get(Credential, cred_id)
    if row is not None and row.drop_error is not None:
        raise Unprocessable(row.drop_error)
    return Response(status_code=204)


def _only_postgresql(db: Database) -> None:
    if db.kind != "postgresql":
        raise Unprocessable("Roles are for postgresql databases; use passwords for mysql")
