from __future__ import annotations

from typing import Any

from moonbase.ids import iso
from moonbase.models import AuditLog


def audit_log_json(entry: AuditLog) -> dict[str, Any]:
    """``audit_action`` is the event (``database.created``), ``action`` its verb (``created``):
    pscale prints "<Action> <auditable>", e.g. "Created shop"."""
    return {
        "id": entry.id,
        "actor_id": entry.actor_id,
        "actor_type": entry.actor_type,
        "actor_display_name": entry.actor_display_name,
        "auditable_id": entry.auditable_id,
        "auditable_type": entry.auditable_type,
        "auditable_display_name": entry.auditable_display_name,
        "target_id": entry.target_id,
        "target_type": entry.target_type,
        "target_display_name": entry.target_display_name,
        "audit_action": entry.action,
        "action": entry.action.partition(".")[2] or entry.action,
        "location": None,
        "remote_ip": entry.remote_ip,
        "metadata": entry.details,
        "created_at": iso(entry.created_at),
        "updated_at": iso(entry.updated_at or entry.created_at),
    }
