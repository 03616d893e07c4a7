"""The delivery worker: sends queued webhook deliveries, one at a time, from one thread.

A pass claims each due delivery with a short lease (so two Moonbase processes sharing a
PostgreSQL store never send the same delivery at once, and a crashed process's claim lapses),
POSTs it, and records what happened on the delivery and on its webhook (``last_sent_*``):

    2xx                                       delivered
    any other status (redirects are not       retried after 1 s, 2 s, 4 s ... (doubling, at most
    followed), timeout (2 s), no connection   15 minutes apart); after the last attempt: failed
    webhook disabled / host no longer         failed, not sent (a test event is still sent to
    allowed since it was queued               a disabled webhook: it was asked for explicitly)

A webhook whose last ``webhook_disable_after`` event deliveries (test events aside) all failed
is disabled, as PlanetScale disables webhooks that keep failing; ``last_sent_result`` says so.
Only deliveries queued since the webhook was last changed count, so enabling it again gives it
a fresh start.

The worker is woken after a commit that queued something (``wake``) and otherwise looks again
when the next retry is due, or every few seconds (another process may have queued work).
Queued deliveries are rows, so they survive a restart and are sent when the worker starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from moonbase.ids import utcnow
from moonbase.models import DeliveryState, Webhook, WebhookDelivery
from moonbase.settings import Settings
from moonbase.store.db import Store
from moonbase.webhooks.outbox import SIGNATURE_HEADER, sign
from moonbase.webhooks.policy import TEST_EVENT, url_problem

log = logging.getLogger(__name__)

#: PlanetScale's response timeout (per network operation: connect, write, wait for the answer)
TIMEOUT = 2.0
#: a claim outlives any single attempt (a few timeouts) by far
LEASE = timedelta(seconds=60)
MAX_DELAY = timedelta(minutes=15)
#: the longest the worker sleeps without being woken
POLL = 5.0
#: finished deliveries are kept this long (to look into), then removed
RETENTION = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Attempt:
    success: bool
    result: str


@dataclass(frozen=True)
class Claimed:
    id: str
    webhook_id: str
    event: str
    body: str
    attempts: int
    url: str
    secret: str
    enabled: bool


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        transport: httpx.BaseTransport | None = None,
        poll: float = POLL,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.poll = poll
        self._http = httpx.Client(
            timeout=TIMEOUT,
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "Moonbase-Webhooks/1"},
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = datetime.min

    # --- running ----------------------------------------------------------------------
    def start(self) -> None:
        if self.store.single_process:
            self._release_all()
        self._thread = threading.Thread(target=self._run, name="moonbase-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._http.close()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the pass: a wake-up during it is not lost
            try:
                delay = self.run_once()
            except Exception:  # noqa: BLE001 - the loop must survive a bad pass
                log.exception("webhook delivery pass failed")
                delay = self.poll
            self._wake.wait(delay)

    def run_once(self) -> float:
        """Send every due delivery; return how long to sleep until the next one is due."""
        while not self._stop.is_set():
            claimed = self._claim_next()
            if claimed is None:
                break
            self._record(claimed, self._attempt(claimed))
        self._prune()
        return self._next_delay()

    # --- one delivery -----------------------------------------------------------------
    def _claim_next(self) -> Claimed | None:
        now = self.clock()
        with self.store.tx() as s:
            candidates = s.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.state == DeliveryState.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.created_at)
                .limit(10)
            ).all()
            for delivery_id in candidates:
                won = s.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == delivery_id,
                        WebhookDelivery.state == DeliveryState.PENDING,
                        or_(
                            WebhookDelivery.lease_until.is_(None),
                            WebhookDelivery.lease_until < now,
                        ),
                    )
                    .values(lease_until=now + LEASE)
                    .execution_options(synchronize_session=False)
                )
                if not won.rowcount:  # type: ignore[attr-defined]
                    continue  # another process took it
                row = s.execute(
                    select(WebhookDelivery, Webhook)
                    .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                    .where(WebhookDelivery.id == delivery_id)
                ).one_or_none()
                if row is None:
                    continue  # its webhook was deleted meanwhile (the delivery with it)
                delivery, hook = row
                return Claimed(
                    delivery.id, hook.id, delivery.event, delivery.body, delivery.attempts,
                    hook.url, hook.secret, hook.enabled,
                )  # fmt: skip
        return None

    def _attempt(self, claimed: Claimed) -> Attempt | None:
        """POST the delivery; None when it must not be sent any more (see the module doc)."""
        if not claimed.enabled and claimed.event != TEST_EVENT:
            return None
        if url_problem(claimed.url, self.settings.webhook_allowed_hosts) is not None:
            return None
        body = claimed.body.encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(claimed.secret, body)}
        try:
            # streamed and never read: only the status matters, however large the answer
            with self._http.stream("POST", claimed.url, content=body, headers=headers) as response:
                status, reason = response.status_code, response.reason_phrase
        except httpx.TimeoutException:
            return Attempt(False, f"no response within {TIMEOUT:g} s")
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return Attempt(False, f"could not send: {exc or type(exc).__name__}")
        result = f"{status} {reason}".strip()
        if 300 <= status < 400:
            result += " (redirects are not followed)"
        return Attempt(200 <= status < 300, result)

    def _record(self, claimed: Claimed, attempt: Attempt | None) -> None:
        now = self.clock()
        attempts = claimed.attempts + 1
        values: dict[str, object] = {
            "attempts": attempts,
            "lease_until": None,
            "state": DeliveryState.PENDING,
        }
        if attempt is None:
            values.update(
                state=DeliveryState.FAILED,
                last_result="not sent: the webhook is disabled or its host is no longer allowed",
            )
        elif attempt.success:
            values.update(state=DeliveryState.DELIVERED, last_result=attempt.result)
        elif attempts >= self.settings.webhook_max_attempts:
            values.update(state=DeliveryState.FAILED, last_result=attempt.result)
        else:
            values.update(
                next_attempt_at=now + self.retry_delay(attempts), last_result=attempt.result
            )
        with self.store.tx() as s:
            s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == claimed.id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if attempt is not None:
                # bookkeeping: ``updated_at`` stays the time of the last change a user made
                s.execute(
                    update(Webhook)
                    .where(Webhook.id == claimed.webhook_id)
                    .values(
                        last_sent_at=now,
                        last_sent_success=attempt.success,
                        last_sent_result=attempt.result,
                        updated_at=Webhook.updated_at,
                    )
                    .execution_options(synchronize_session=False)
                )
                if values["state"] == DeliveryState.FAILED and claimed.event != TEST_EVENT:
                    self._disable_if_failing(s, claimed.webhook_id, attempt.result)
        if attempt is not None and not attempt.success:
            log.info(
                "webhook %s: %s delivery %s failed (attempt %d): %s",
                claimed.webhook_id, claimed.event, claimed.id, attempts, attempt.result,
            )  # fmt: skip

    def _disable_if_failing(self, s: Session, webhook_id: str, result: str) -> None:
        limit = self.settings.webhook_disable_after
        hook = s.get(Webhook, webhook_id)
        if limit <= 0 or hook is None or not hook.enabled:
            return
        latest = s.scalars(
            select(WebhookDelivery.state)
            .where(
                WebhookDelivery.webhook_id == webhook_id,
                WebhookDelivery.event != TEST_EVENT,
                WebhookDelivery.state != DeliveryState.PENDING,
                WebhookDelivery.created_at >= hook.updated_at,
            )
            .order_by(WebhookDelivery.created_at.desc())
            .limit(limit)
        ).all()
        if len(latest) < limit or any(state != DeliveryState.FAILED for state in latest):
            return
        log.warning("webhook %s: disabled after %d failed deliveries in a row", webhook_id, limit)
        s.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id)
            .values(
                enabled=False,
                last_sent_result=f"{result}; disabled after {limit} failed deliveries in a row",
                updated_at=Webhook.updated_at,  # Moonbase's doing, not a user's change
            )
            .execution_options(synchronize_session=False)
        )

    def retry_delay(self, attempts: int) -> timedelta:
        """Wait after failed attempt number ``attempts``: 1 s, 2 s, 4 s ... (the first delay is
        ``webhook_retry_delay``), at most ``MAX_DELAY``."""
        seconds = self.settings.webhook_retry_delay * 2 ** max(0, attempts - 1)
        return min(MAX_DELAY, timedelta(seconds=seconds))

    # --- housekeeping -----------------------------------------------------------------
    def _next_delay(self) -> float:
        now = self.clock()
        with self.store.tx() as s:
            due = s.scalar(
                select(func.min(WebhookDelivery.next_attempt_at)).where(
                    WebhookDelivery.state == DeliveryState.PENDING,
                    or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
                )
            )
        if due is None:
            return self.poll
        return max(0.01, min(self.poll, (due - now).total_seconds()))

    def _prune(self) -> None:
        now = self.clock()
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        with self.store.tx() as s:
            s.execute(
                delete(WebhookDelivery)
                .where(
                    WebhookDelivery.state != DeliveryState.PENDING,
                    WebhookDelivery.updated_at < now - RETENTION,
                )
                .execution_options(synchronize_session=False)
            )

    def _release_all(self) -> None:
        """At start, when this process is the store's only one (SQLite): the claims of a
        previous process that was killed are void, so its unsent deliveries go out now."""
        with self.store.tx() as s:
            s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.lease_until.is_not(None))
                .values(lease_until=None)
                .execution_options(synchronize_session=False)
            )
