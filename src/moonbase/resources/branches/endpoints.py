from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from moonbase.api.deps import Context, Ctx
from moonbase.api.pagination import PageDep, envelope, paginate
from moonbase.errors import NotFound
from moonbase.models import Branch, BranchState, Database, SchemaSnapshot
from moonbase.resources import lookups
from moonbase.resources.branches import repository, service
from moonbase.resources.branches.schemas import (
    BranchCreate,
    BranchUpdate,
    SafeMigrationsUpdate,
    branch_json,
)
from moonbase.schema.diff import diff_tables
from moonbase.schema.lint import lint
from moonbase.schema.render import highlight

router = APIRouter(prefix="/organizations/{organization}/databases/{database}/branches")

#: how long a call waits for the servers to reflect a change before it answers
SETTLE_WAIT = 10.0


def _json(ctx: Context, organization: str, db: Database, branch: Branch) -> dict[str, Any]:
    org = lookups.organization(ctx.session, organization)
    ports = repository.ports(ctx.session, [branch.id])[branch.id]
    return branch_json(branch, db, org, ctx.settings, ports)


def _settle(ctx: Context, branch: Branch, done: Any) -> None:
    ctx.settle(branch.state == BranchState.READY, done, SETTLE_WAIT)


@router.get("", operation_id="list_branches")
def list_branches(
    ctx: Ctx,
    organization: str,
    database: str,
    page: PageDep,
    q: Annotated[str | None, Query()] = None,
    production: Annotated[bool | None, Query()] = None,
    safe_migrations: Annotated[bool | None, Query()] = None,
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
) -> dict[str, Any]:
    db = ctx.database(organization, database, "list_branches")
    org = lookups.organization(ctx.session, organization)
    rows, total = repository.page(
        ctx.session, db.id, page.offset, page.per_page,
        q=q, production=production, safe_migrations=safe_migrations, descending=order == "desc",
    )  # fmt: skip
    ports = repository.ports(ctx.session, [b.id for b in rows])
    items = [branch_json(b, db, org, ctx.settings, ports[b.id]) for b in rows]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.post("", operation_id="create_branch", status_code=201)
def create_branch(ctx: Ctx, organization: str, database: str, body: BranchCreate) -> dict[str, Any]:
    db = ctx.database(organization, database, "create_branch")
    branch = service.create(ctx.session, db, body, ctx.settings, ctx.principal.actor_id)
    ctx.wake_reconciler()
    return _json(ctx, organization, db, branch)


@router.get("/{branch}", operation_id="get_branch")
def get_branch(ctx: Ctx, organization: str, database: str, branch: str) -> dict[str, Any]:
    db, found = ctx.branch(organization, database, branch, "get_branch")
    return _json(ctx, organization, db, found)


@router.patch("/{branch}", operation_id="update_branch")
def update_branch(
    ctx: Ctx, organization: str, database: str, branch: str, body: BranchUpdate
) -> dict[str, Any]:
    db, found = ctx.branch(organization, database, branch, "update_branch")
    service.update(ctx.session, db, found, body)
    return _json(ctx, organization, db, found)


@router.delete("/{branch}", operation_id="delete_branch", status_code=204)
def delete_branch(
    ctx: Ctx,
    organization: str,
    database: str,
    branch: str,
    delete_descendants: Annotated[bool, Query()] = False,
) -> Response:
    db, found = ctx.branch(organization, database, branch, "delete_branch")
    service.delete(ctx.session, db, found, delete_descendants)
    ctx.wake_reconciler()
    return Response(status_code=204)


@router.post("/{branch}/promote", operation_id="promote_branch")
def promote_branch(ctx: Ctx, organization: str, database: str, branch: str) -> dict[str, Any]:
    db, found = ctx.branch(organization, database, branch, "promote_branch")
    service.promote(ctx.session, db, found)
    ctx.wake_reconciler()
    return _json(ctx, organization, db, found)


@router.post("/{branch}/demote", operation_id="demote_branch")
def demote_branch(ctx: Ctx, organization: str, database: str, branch: str) -> dict[str, Any]:
    db, found = ctx.branch(organization, database, branch, "demote_branch")
    service.demote(ctx.session, db, found)
    ctx.wake_reconciler()
    return _json(ctx, organization, db, found)


def _safe_migrations(
    ctx: Context, organization: str, database: str, branch: str, operation: str, on: bool
) -> dict[str, Any]:
    db, found = ctx.branch(organization, database, branch, operation)
    service.set_safe_migrations(ctx.session, found, on)
    _settle(ctx, found, lambda: found.safe_migrations_applied == found.safe_migrations)
    return _json(ctx, organization, db, found)


@router.post("/{branch}/safe-migrations", operation_id="enable_safe_migrations")
def enable_safe_migrations(
    ctx: Ctx, organization: str, database: str, branch: str
) -> dict[str, Any]:
    return _safe_migrations(ctx, organization, database, branch, "enable_safe_migrations", True)


@router.delete("/{branch}/safe-migrations", operation_id="disable_safe_migrations")
def disable_safe_migrations(
    ctx: Ctx, organization: str, database: str, branch: str
) -> dict[str, Any]:
    return _safe_migrations(ctx, organization, database, branch, "disable_safe_migrations", False)


@router.put("/{branch}/safe-migrations", operation_id="update_safe_migrations")
def update_safe_migrations(
    ctx: Ctx, organization: str, database: str, branch: str, body: SafeMigrationsUpdate
) -> dict[str, Any]:
    return _safe_migrations(
        ctx, organization, database, branch, "update_safe_migrations", body.safe_migrations
    )


# --- schema ---------------------------------------------------------------------------------


def _fresh_tables(ctx: Context, *branches: Branch) -> list[list[dict[str, Any]]]:
    """Each branch's tables as the reconciler has just read them from its primary (all asked
    for at once, so their servers are read side by side)."""
    asked = {}
    for branch in branches:
        service.request_schema(ctx.session, branch)
        asked[branch.id] = branch.schema_refresh_requested_at

    def fresh() -> bool:
        for branch_id, when in asked.items():
            snapshot = ctx.session.get(SchemaSnapshot, branch_id)
            if snapshot is None or when is None or snapshot.taken_at < when:
                return False
        return True

    ctx.settle(all(b.state == BranchState.READY for b in branches), fresh, SETTLE_WAIT)
    found = [ctx.session.get(SchemaSnapshot, b.id) for b in branches]
    return [list(s.tables) if s else [] for s in found]


def _namespace_filter(db: Database, namespace: str | None, keyspace: str | None) -> Any:
    def keep(table: dict[str, Any]) -> bool:
        if keyspace is not None and db.kind == "mysql" and keyspace != db.schema_name:
            return False
        if namespace is not None and db.kind == "postgresql":
            wanted = namespace.split(".", 1)[-1]  # "<database>.<schema>" or "<schema>"
            return bool(table.get("namespace") == wanted)
        return True

    return keep


@router.get("/{branch}/schema", operation_id="get_branch_schema")
def get_branch_schema(
    ctx: Ctx,
    organization: str,
    database: str,
    branch: str,
    keyspace: Annotated[str | None, Query()] = None,
    namespace: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    db, found = ctx.branch(organization, database, branch, "get_branch_schema")
    keep = _namespace_filter(db, namespace, keyspace)
    (tables,) = _fresh_tables(ctx, found)
    tables = [t for t in tables if keep(t)]
    return {
        "data": [{"name": t["name"], "raw": t["raw"], "html": highlight(t["raw"])} for t in tables]
    }


@router.get("/{branch}/schema/lint", operation_id="lint_branch_schema")
def lint_branch_schema(
    ctx: Ctx, organization: str, database: str, branch: str, page: PageDep
) -> dict[str, Any]:
    db, found = ctx.branch(organization, database, branch, "lint_branch_schema")
    keyspace = db.schema_name if db.kind == "mysql" else ""
    (tables,) = _fresh_tables(ctx, found)
    errors = lint(tables, db.kind, keyspace)
    return paginate(ctx.request, page, [e.to_json() for e in errors], ctx.settings.base_url)


@router.get("/{branch}/diff", operation_id="diff_branch")
def diff_branch(ctx: Ctx, organization: str, database: str, branch: str) -> dict[str, Any]:
    """Outside the spec (``pscale branch diff`` calls it): how the branch's schema differs
    from its parent's; a branch without a parent differs from nothing."""
    db, found = ctx.branch(organization, database, branch, "diff_branch")
    if found.parent_branch is None:
        return {"data": []}
    try:
        parent = lookups.branch(ctx.session, db.id, found.parent_branch)
    except NotFound:  # its parent is being deleted with it
        return {"data": []}
    before, after = _fresh_tables(ctx, parent, found)
    return {"data": [d.to_json() for d in diff_tables(before, after)]}


@router.post("/{branch}/refresh-schema", operation_id="refresh_branch_schema")
def refresh_branch_schema(
    ctx: Ctx, organization: str, database: str, branch: str
) -> dict[str, Any]:
    db, found = ctx.branch(organization, database, branch, "refresh_branch_schema")
    _fresh_tables(ctx, found)
    return _json(ctx, organization, db, found)
