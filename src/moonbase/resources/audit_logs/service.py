"""Writing audit entries and forgetting old ones.

``record`` runs inside the transaction of the change it describes (the request's, just
before it commits); it only adds a row and never commits. The target is found among the
rows the request changed (``Change``), then among the rows it loaded, then from the path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from moonbase.ids import new_id, utcnow
from moonbase.models import AuditLog, Base, Database, Organization
from moonbase.resources.audit_logs.actions import TargetKind, action_for, target_kind
from moonbase.resources.audit_logs.redaction import request_metadata

#: how often at most a write also deletes entries past the retention period
SWEEP_EVERY = timedelta(minutes=10)


@dataclass
class AuditTrail:
    """Per-process audit settings and sweep bookkeeping (the app keeps one)."""

    retention: timedelta
    clock: Callable[[], datetime] = utcnow
    sweep_every: timedelta = SWEEP_EVERY
    last_sweep: datetime | None = None

    def oldest_kept(self) -> datetime:
        return self.clock() - self.retention


@dataclass(frozen=True)
class Change:
    """A row the request created, updated or deleted (``obj`` is the ORM instance)."""

    obj: Any
    kind: str  # created | updated | deleted


@dataclass(frozen=True)
class Request:
    """What the API layer knows of a successful change request."""

    operation_id: str
    method: str
    organization_id: str
    actor_id: str
    actor_type: str
    path_params: Mapping[str, str]
    body: bytes
    remote_ip: str | None
    changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class Ref:
    type: str
    id: str
    display_name: str | None


def _model(name: str) -> type[Any] | None:
    for mapper in Base.registry.mappers:
        if mapper.class_.__name__ == name:
            return mapper.class_
    return None


def _display(session: Session, obj: Any) -> str | None:
    for attr in ("name", "display_name", "slug", "email", "username"):
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value:
            return value
    user_id = getattr(obj, "user_id", None)  # memberships and the like: their user
    user_model = _model("User")
    if isinstance(user_id, str) and user_model is not None:
        user = session.get(user_model, user_id)
        if user is not None:
            return _display(session, user)
    return None


def _ref(session: Session, public_type: str, obj: Any) -> Ref:
    return Ref(public_type, str(obj.id), _display(session, obj) or str(obj.id))


def _actor_name(session: Session, actor_type: str, actor_id: str) -> str:
    model = _model(actor_type)
    row = session.get(model, actor_id) if model is not None else None
    return (_display(session, row) if row is not None else None) or actor_id


def _named(obj: Any, values: set[str]) -> bool:
    """Whether the path names ``obj`` (by id, name or slug)."""
    return any(getattr(obj, a, None) in values for a in ("id", "name", "slug"))


def _loaded(session: Session, models: Iterable[str], values: set[str]) -> Any:
    """A row of one of ``models`` that the request loaded and its path names."""
    for obj in list(session.identity_map.values()):
        if type(obj).__name__ in models and _named(obj, values):
            return obj
    return None


def _target(session: Session, req: Request, action: str, kind: TargetKind) -> Ref | None:
    verb = action.partition(".")[2]
    values = {v for v in req.path_params.values() if v}
    # what a create made, what a delete removed, the row the path names: before rows the
    # request touched on the way (a branch's descendants deleted with it)
    first = {"created": "created", "deleted": "deleted"}.get(verb)
    changes = sorted(req.changes, key=lambda c: (c.kind != first, not _named(c.obj, values)))
    for change in changes:
        if type(change.obj).__name__ in kind.models and getattr(change.obj, "id", None):
            return _ref(session, kind.public, change.obj)
    obj = _loaded(session, kind.models, values)
    if obj is not None:
        return _ref(session, kind.public, obj)
    if req.path_params.get("id"):
        return Ref(kind.public, req.path_params["id"], req.path_params["id"])
    return None


def _database(session: Session, req: Request) -> Database | None:
    name = req.path_params.get("database")
    if not name:
        return None
    for obj in list(session.identity_map.values()):
        if (
            isinstance(obj, Database)
            and obj.name == name
            and obj.organization_id == req.organization_id
        ):
            return obj
    return session.scalar(
        select(Database)
        .where(Database.organization_id == req.organization_id, Database.name == name)
        .order_by(Database.deleted_at.is_not(None), Database.created_at.desc())
        .limit(1)
    )


def _auditable(session: Session, req: Request, target: Ref | None) -> Ref:
    if target is not None and target.type == "Database":
        return target
    db = _database(session, req)
    if db is not None:
        return Ref("Database", db.id, db.name)
    org = session.get(Organization, req.organization_id)
    return Ref("Organization", req.organization_id, org.name if org else req.organization_id)


def record(session: Session, trail: AuditTrail, req: Request) -> AuditLog:
    """Add the entry for ``req`` to the session (the caller's transaction commits it)."""
    action = action_for(req.operation_id, req.method)
    target = _target(session, req, action, target_kind(action))
    auditable = _auditable(session, req, target)
    now = trail.clock()
    if trail.last_sweep is None or now - trail.last_sweep >= trail.sweep_every:
        sweep(session, trail)
    entry = AuditLog(
        id=new_id(),
        organization_id=req.organization_id,
        action=action,
        actor_id=req.actor_id,
        actor_type=req.actor_type,
        actor_display_name=_actor_name(session, req.actor_type, req.actor_id),
        auditable_id=auditable.id,
        auditable_type=auditable.type,
        auditable_display_name=auditable.display_name or auditable.id,
        target_id=target.id if target else None,
        target_type=target.type if target else None,
        target_display_name=target.display_name if target else None,
        remote_ip=req.remote_ip,
        details=request_metadata(req.body),
        created_at=now,
        updated_at=now,
    )
    session.add(entry)
    return entry


def sweep(session: Session, trail: AuditTrail) -> int:
    """Delete every organization's entries older than the retention period."""
    trail.last_sweep = trail.clock()
    result = session.execute(delete(AuditLog).where(AuditLog.created_at < trail.oldest_kept()))
    return int(getattr(result, "rowcount", 0) or 0)
