"""The audit hook: every successful change request leaves one audit entry, in its transaction.

``Context.commit`` calls ``record`` just before the request's transaction commits (the first
commit, when an endpoint commits early to wait for the servers), so the entry and the change
commit or roll back together: a request that fails before committing leaves nothing. GET,
HEAD and OPTIONS are never recorded. What the request changed is collected from the
session's flushes (``install``), which is how the entry finds its target without each
endpoint having to say.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from sqlalchemy import delete, event
from sqlalchemy.orm import Session

from moonbase.api.auth import Principal
from moonbase.models import AuditLog
from moonbase.resources.audit_logs import service
from moonbase.settings import Settings
from moonbase.store.db import Store

log = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: ``session.info`` key: the rows flushed in the current transaction
CHANGES = "moonbase.audit.changes"


async def capture_body(request: Request) -> None:
    """Keep the raw body of a change request for its entry's metadata (Starlette caches it:
    an endpoint that takes a body has read it already)."""
    if request.method not in READ_METHODS:
        request.state.audit_body = await request.body()


#: a dependency of the request context: ``_context(request, _body: BodyCaptured)``
BodyCaptured = Annotated[None, Depends(capture_body)]


def _collect(session: Session, _flush_context: Any) -> None:
    changes: list[service.Change] = session.info.setdefault(CHANGES, [])
    for kind, objs in (("created", session.new), ("updated", session.dirty),
                       ("deleted", session.deleted)):  # fmt: skip
        for obj in objs:
            if isinstance(obj, AuditLog):
                continue
            if kind == "updated" and not session.is_modified(obj, include_collections=False):
                continue
            changes.append(service.Change(obj, kind))


def _forget(session: Session) -> None:
    session.info.pop(CHANGES, None)


def install(app: FastAPI, store: Store, settings: Settings) -> None:
    """The app's audit trail (retention, sweep bookkeeping) and the change collector."""
    app.state.audit_trail = service.AuditTrail(timedelta(days=settings.audit_retention_days))
    event.listen(store.sessions, "after_flush", _collect)
    event.listen(store.sessions, "after_commit", _forget)
    event.listen(store.sessions, "after_rollback", _forget)


def record(session: Session, request: Request, principal: Principal) -> None:
    """Add the audit entry of a change request to its transaction (once per request)."""
    if request.method in READ_METHODS or getattr(request.state, "audited", False):
        return
    operation_id = getattr(request.scope.get("route"), "operation_id", None)
    trail: service.AuditTrail | None = getattr(request.app.state, "audit_trail", None)
    if not operation_id or trail is None:
        return
    request.state.audited = True
    session.flush()  # what the endpoint changed but did not flush yet is a change too
    client = request.client
    request.state.audit_entry = service.record(
        session,
        trail,
        service.Request(
            operation_id=operation_id,
            method=request.method,
            organization_id=principal.organization_id,
            actor_id=principal.actor_id,
            actor_type=principal.actor_type,
            path_params=dict(request.path_params),
            body=getattr(request.state, "audit_body", b""),
            remote_ip=client.host if client else None,
            changes=list(session.info.get(CHANGES, ())),
        ),
    ).id


def discard(session: Session, request: Request) -> None:
    """The request failed after all: its entry goes too, even if an early commit (one an
    endpoint makes on purpose before it answers with an error) wrote it. Called after the
    request's transaction rolled back; never raises over the request's own error."""
    entry_id = getattr(request.state, "audit_entry", None)
    if entry_id is None:
        return
    request.state.audit_entry = None
    try:
        session.execute(delete(AuditLog).where(AuditLog.id == entry_id))
        session.commit()
    except Exception:  # noqa: BLE001 - the request's error is the one to report
        session.rollback()
        log.exception("could not remove the audit entry of a failed request")
