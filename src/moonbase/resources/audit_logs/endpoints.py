"""GET /organizations/{organization}/audit-log: the audit log, newest first, by cursor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from moonbase.api.cursor import CursorDep, cursor_envelope
from moonbase.api.deps import Ctx
from moonbase.errors import Unprocessable
from moonbase.resources.audit_logs import repository
from moonbase.resources.audit_logs.schemas import audit_log_json
from moonbase.resources.audit_logs.service import AuditTrail

router = APIRouter()

FILTER_PREFIX = "audit_action:"


def _actions(filters: list[str]) -> list[str]:
    """pscale's ``filters[]=audit_action:<event>`` (the only filter it sends)."""
    actions = []
    for item in filters:
        if not item.startswith(FILTER_PREFIX) or not item[len(FILTER_PREFIX) :]:
            raise Unprocessable(f"Unknown filter '{item}': use audit_action:<event>")
        actions.append(item[len(FILTER_PREFIX) :])
    return actions


@router.get("/organizations/{organization}/audit-log", operation_id="list_audit_logs")
def list_audit_logs(
    ctx: Ctx,
    organization: str,
    cursor: CursorDep,
    filters: Annotated[list[str] | None, Query(alias="filters[]", max_length=50)] = None,
) -> dict[str, Any]:
    org = ctx.organization(organization, "list_audit_logs")
    trail: AuditTrail = ctx.request.app.state.audit_trail
    page = repository.page(
        ctx.session, org.id, cursor, since=trail.oldest_kept(), actions=_actions(filters or [])
    )
    return cursor_envelope(page, [audit_log_json(e) for e in page.items])
