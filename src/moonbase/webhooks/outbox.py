"""Queue webhook events in the transaction of the change they report.

``enqueue`` adds one delivery row per webhook to the caller's session and asks for the worker
to be woken once that session commits. Nothing is sent from here: if the change rolls back, so
do its deliveries, and nobody hears of it.

The body is rendered once, when the event happens: ``{"timestamp", "event", "organization",
"database", "resource"}``, the resource being the JSON the matching GET answers with at that
moment. It is stored as text, so every retry sends the same bytes with the same signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from moonbase.ids import utcnow
from moonbase.models import Branch, Database, Organization, Webhook, WebhookDelivery
from moonbase.resources.branches.repository import ports
from moonbase.resources.branches.schemas import branch_json
from moonbase.settings import Settings

SIGNATURE_HEADER = "X-PlanetScale-Signature"


def render(event_name: str, organization: str, database: str, resource: dict[str, Any]) -> str:
    payload = {
        "timestamp": int(time.time()),
        "event": event_name,
        "organization": organization,
        "database": database,
        "resource": resource,
    }
    return json.dumps(payload, separators=(",", ":"))


def sign(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw body, keyed with the webhook's secret (PlanetScale's scheme)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def subscribed(session: Session, database_id: str, event_name: str) -> list[Webhook]:
    hooks = session.scalars(
        select(Webhook)
        .where(Webhook.database_id == database_id, Webhook.enabled.is_(True))
        .order_by(Webhook.created_at, Webhook.id)
    )
    return [h for h in hooks if event_name in h.events]


class Outbox:
    def __init__(self, settings: Settings, wake: Callable[[], None]) -> None:
        self.settings = settings
        self.wake = wake

    def enqueue(
        self,
        session: Session,
        hooks: Iterable[Webhook],
        event_name: str,
        organization: str,
        database: str,
        resource: dict[str, Any],
    ) -> int:
        """Queue one delivery per webhook in ``session``'s transaction; return how many."""
        body = render(event_name, organization, database, resource)
        now = utcnow()
        count = 0
        for hook in hooks:
            session.add(
                WebhookDelivery(
                    webhook_id=hook.id, event=event_name, body=body, next_attempt_at=now
                )
            )
            count += 1
        if count:
            session.flush()
            # the worker looks only after the commit; a rollback drops the rows and the wake-up
            event.listen(session, "after_commit", self._after_commit, once=True)
        return count

    def _after_commit(self, _session: Session) -> None:
        self.wake()

    def branch_ready(self, session: Session, branch_id: str) -> None:
        """``branch.ready``: called by the reconciler in the transaction that marks the branch
        ready, with the branch JSON as ``get_branch`` shows it from then on."""
        branch = session.get(Branch, branch_id)
        if branch is None:
            return
        db = session.get(Database, branch.database_id)
        if db is None or db.deleted_at is not None:
            return
        hooks = subscribed(session, db.id, "branch.ready")
        if not hooks:
            return
        org = session.get(Organization, db.organization_id)
        assert org is not None
        resource = branch_json(
            branch, db, org, self.settings, ports(session, [branch.id])[branch.id]
        )
        self.enqueue(session, hooks, "branch.ready", org.name, db.name, resource)
