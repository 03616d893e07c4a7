from __future__ import annotations

from typing import Any

from moonbase.ids import iso
from moonbase.models import Webhook
from moonbase.resources.databases.schemas import Strict


class WebhookCreate(Strict):
    url: str
    #: default: enabled (a webhook made without saying otherwise is meant to be used)
    enabled: bool | None = None
    events: list[str] | None = None


class WebhookUpdate(Strict):
    url: str | None = None
    enabled: bool | None = None
    events: list[str] | None = None


def webhook_json(hook: Webhook) -> dict[str, Any]:
    """The secret is part of the object, as on PlanetScale: receivers need it to check the
    ``X-PlanetScale-Signature`` of each delivery. Before anything was sent, the spec's
    non-nullable ``last_sent_result`` / ``last_sent_success`` read ``""`` / ``false`` and
    ``last_sent_at`` is null."""
    return {
        "id": hook.id,
        "url": hook.url,
        "secret": hook.secret,
        "enabled": hook.enabled,
        "last_sent_result": hook.last_sent_result or "",
        "last_sent_success": bool(hook.last_sent_success),
        "last_sent_at": iso(hook.last_sent_at),
        "created_at": iso(hook.created_at),
        "updated_at": iso(hook.updated_at),
        "events": list(hook.events),
    }


def tested_resource(hook: Webhook) -> dict[str, Any]:
    """The ``resource`` of a ``webhook.test`` delivery: the webhook as ``get_webhook`` shows it,
    without its secret (payloads end up in receivers' logs; the signature proves the sender)."""
    body = webhook_json(hook)
    del body["secret"]
    return body
