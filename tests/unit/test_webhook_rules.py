"""Webhook rules without a running app: URLs, events, settings, the retry schedule, and what
the delivery worker refuses to send."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from moonbase.settings import Settings, from_env
from moonbase.store.db import Store
from moonbase.webhooks.delivery import MAX_DELAY, Claimed, DeliveryWorker
from moonbase.webhooks.outbox import sign
from moonbase.webhooks.policy import EVENTS, event_problem, url_problem


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/x", "http://127.0.0.1:8080/", "https://h.example",
     "https://user:pw@h.example/p?q=1#f", "http://[::1]:9/x"],
)  # fmt: skip
def test_acceptable_urls(url: str) -> None:
    assert url_problem(url, ()) is None


@pytest.mark.parametrize(
    "url",
    ["", "h.example/x", "ftp://h.example", "file:///etc/passwd", "https://", "http://:80/x",
     "https://h.example:99999999/x", "https://h.example:port/", "https://h .example/",
     "https://h.example/\x00", "https://[::1/x"],
)  # fmt: skip
def test_unacceptable_urls(url: str) -> None:
    assert url_problem(url, ()) is not None


def test_allow_list_is_exact_and_case_insensitive() -> None:
    allowed = ("hooks.example.com",)
    assert url_problem("https://HOOKS.Example.com/x", allowed) is None
    others = (
        "https://evil.example/x",
        "https://hooks.example.com.evil.example/",
        "https://sub.hooks.example.com/",
        "https://hooks.example.com@evil.example/",
    )
    for url in others:
        problem = url_problem(url, allowed)
        assert problem is not None and "hooks.example.com" in problem, url


def test_events() -> None:
    assert event_problem(list(EVENTS)) is None and event_problem([]) is None
    problem = event_problem(["branch.ready", "branch.created", "DEPLOY_REQUEST.OPENED"])
    assert problem is not None
    assert "branch.created" in problem and "DEPLOY_REQUEST.OPENED" in problem


def test_settings_from_environment() -> None:
    assert Settings().webhook_allowed_hosts == ()
    settings = from_env(
        {
            "MOONBASE_WEBHOOK_ALLOWED_HOSTS": " Hooks.Example.com, ,b.example ",
            "MOONBASE_WEBHOOK_MAX_ATTEMPTS": "3",
            "MOONBASE_WEBHOOK_DISABLE_AFTER": "0",
        }
    )
    assert Settings().webhook_disable_after == 5
    assert settings.webhook_disable_after == 0
    assert settings.webhook_allowed_hosts == ("hooks.example.com", "b.example")
    assert settings.webhook_max_attempts == 3


def test_signature_is_hex_hmac_sha256() -> None:
    # RFC 4231 test case 2
    assert sign("Jefe", b"what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[DeliveryWorker, list[httpx.Request]]]:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    store = Store(f"sqlite:///{tmp_path / 'unused.db'}")
    settings = Settings(home=tmp_path, webhook_allowed_hosts=("ok.example",))
    made = DeliveryWorker(store, settings, transport=httpx.MockTransport(answer))
    yield made, sent
    made.stop()
    store.dispose()


def claimed(event: str, url: str = "https://ok.example/x", enabled: bool = True) -> Claimed:
    return Claimed("d1", "w1", event, '{"a":1}', 0, url, "s3cret", enabled)


def test_the_worker_sends_signed_bytes(worker: tuple[DeliveryWorker, list[httpx.Request]]) -> None:
    made, sent = worker
    attempt = made._attempt(claimed("branch.ready"))
    assert attempt is not None and attempt.success and attempt.result == "204 No Content"
    (request,) = sent
    assert request.content == b'{"a":1}'
    assert request.headers["X-PlanetScale-Signature"] == sign("s3cret", b'{"a":1}')


def test_the_worker_drops_what_may_no_longer_be_sent(
    worker: tuple[DeliveryWorker, list[httpx.Request]],
) -> None:
    made, sent = worker
    assert made._attempt(claimed("branch.ready", enabled=False)) is None
    assert made._attempt(claimed("branch.ready", url="https://gone.example/x")) is None
    assert sent == []
    # a test event was asked for explicitly: a disabled webhook still gets it
    assert made._attempt(claimed("webhook.test", enabled=False)) is not None
    assert len(sent) == 1


def test_retry_delays_double_up_to_a_cap(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'unused.db'}")
    made = DeliveryWorker(store, Settings(home=tmp_path))
    try:
        delays = [made.retry_delay(n).total_seconds() for n in range(1, 6)]
        assert delays == [1, 2, 4, 8, 16]
        assert made.retry_delay(40) == MAX_DELAY == timedelta(minutes=15)
    finally:
        made.stop()
        store.dispose()
