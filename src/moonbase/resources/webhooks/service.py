"""Rules for webhooks: validate, then write. Never commits; deliveries go out after commit.

Limits (PlanetScale's): at most 5 webhooks per database, each URL once per database, and
``test_webhook`` at most once per 20 s per webhook. A test asked for sooner is refused with
429 ``rate_limited`` (it is a rate limit, not a problem with a field), saying when to retry.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from moonbase.errors import TooManyRequests, Unprocessable
from moonbase.ids import new_secret, utcnow
from moonbase.models import Database, Organization, Webhook
from moonbase.resources.webhooks import repository
from moonbase.resources.webhooks.schemas import WebhookCreate, WebhookUpdate, tested_resource
from moonbase.settings import Settings
from moonbase.webhooks.outbox import Outbox
from moonbase.webhooks.policy import MAX_PER_DATABASE, TEST_EVENT, event_problem, url_problem

TEST_INTERVAL = timedelta(seconds=20)


def _check_url(
    session: Session, db: Database, url: str, settings: Settings, hook_id: str | None
) -> None:
    problem = url_problem(url, settings.webhook_allowed_hosts)
    if problem:
        raise Unprocessable(problem)
    if repository.url_taken(session, db.id, url, other_than=hook_id):
        raise Unprocessable(f"Database '{db.name}' already has a webhook for {url}")


def _events(events: list[str]) -> list[str]:
    problem = event_problem(events)
    if problem:
        raise Unprocessable(problem)
    return list(dict.fromkeys(events))  # each once, in the order given


def create(session: Session, db: Database, body: WebhookCreate, settings: Settings) -> Webhook:
    if repository.count(session, db.id) >= MAX_PER_DATABASE:
        raise Unprocessable(
            f"Database '{db.name}' already has {MAX_PER_DATABASE} webhooks, the most it may have: "
            "delete one first"
        )
    _check_url(session, db, body.url, settings, None)
    events = _events(body.events or [])
    hook = Webhook(
        database_id=db.id,
        url=body.url,
        secret=new_secret("", 43),
        enabled=True if body.enabled is None else body.enabled,
        events=events,
    )
    session.add(hook)
    session.flush()
    return hook


def update(
    session: Session, db: Database, hook: Webhook, body: WebhookUpdate, settings: Settings
) -> Webhook:
    if body.url is not None and body.url != hook.url:
        _check_url(session, db, body.url, settings, hook.id)
        hook.url = body.url
    if body.events is not None:
        hook.events = _events(body.events)
    if body.enabled is not None:
        hook.enabled = body.enabled
    hook.updated_at = utcnow()
    session.flush()
    return hook


def delete(session: Session, hook: Webhook) -> None:
    repository.remove(session, hook)


def send_test(
    session: Session,
    outbox: Outbox,
    org: Organization,
    db: Database,
    hook: Webhook,
    now: datetime | None = None,
) -> None:
    """Queue a ``webhook.test`` for this webhook, whatever it subscribes to and even when it is
    disabled (a test is asked for explicitly)."""
    now = now or utcnow()
    if not repository.claim_test_slot(session, hook.id, now, now - TEST_INTERVAL):
        last = repository.last_tested_at(session, hook.id) or now
        wait = max(1, math.ceil((last + TEST_INTERVAL - now).total_seconds()))
        raise TooManyRequests(
            f"Webhook '{hook.id}' can be tested once every {TEST_INTERVAL.seconds} seconds: "
            f"try again in {wait} s"
        )
    outbox.enqueue(session, [hook], TEST_EVENT, org.name, db.name, tested_resource(hook))
