"""Which events a webhook may subscribe to, which of them happen here, and which URLs it may
point at. Shared by the API (when a webhook is saved) and the worker (when a delivery is sent,
so narrowing the allow-list also stops deliveries already queued)."""

from __future__ import annotations

from urllib.parse import urlsplit

#: PlanetScale's event names (the spec's enum, in its order). Every one is accepted.
EVENTS = (
    "branch.ready", "branch.anomaly", "branch.out_of_memory", "branch.primary_promoted",
    "branch.schema_recommendation", "branch.sleeping", "branch.start_maintenance",
    "cluster.storage", "database.access_request", "deploy_request.closed",
    "deploy_request.errored", "deploy_request.in_progress", "deploy_request.opened",
    "deploy_request.pending_cutover", "deploy_request.queued", "deploy_request.reverted",
    "deploy_request.schema_applied", "keyspace.storage", "webhook.test",
)  # fmt: skip

#: what test_webhook sends (also to a disabled webhook; never counts towards disabling one)
TEST_EVENT = "webhook.test"

#: the events Moonbase sends today, and when. The others are accepted so that a client written
#: for PlanetScale can subscribe to them, but nothing here produces them yet: branches never
#: sleep, there are no deploy requests, insights, storage thresholds or maintenance windows.
EMITTED = {
    "branch.ready": "a branch's servers answer for the first time after it was created",
    TEST_EVENT: "test_webhook was called",
}

#: PlanetScale's limit
MAX_PER_DATABASE = 5
MAX_URL_LENGTH = 2048


def event_problem(events: list[str]) -> str | None:
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        return f"Unknown event(s) {', '.join(map(repr, unknown))}: choose from {', '.join(EVENTS)}"
    return None


def url_problem(url: str, allowed_hosts: tuple[str, ...]) -> str | None:
    """Why ``url`` cannot receive webhooks, or None: http(s), a host, and (when the
    installation has an allow-list, MOONBASE_WEBHOOK_ALLOWED_HOSTS) one of its hosts."""
    if not url or len(url) > MAX_URL_LENGTH:
        return f"url must be 1 to {MAX_URL_LENGTH} characters long"
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "url must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return f"url '{url}' is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return f"url '{url}' must start with http:// or https://"
    host = parts.hostname
    if not host:
        return f"url '{url}' must name a host"
    if allowed_hosts and host.lower() not in allowed_hosts:
        return (
            f"Webhooks may not be sent to '{host}' on this installation; allowed hosts: "
            + ", ".join(allowed_hosts)
        )
    return None
