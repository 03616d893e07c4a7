"""Webhook deliveries end to end: a loopback HTTP receiver records what Moonbase POSTs.

Signed test events, retries after a failure, branch.ready from the reconciler, nothing for a
change that rolled back, deliveries that outlive a restart, and the ``moonbase webhook`` CLI
against a served app.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from moonbase.app import create_app
from moonbase.cli.main import app as cli_app
from moonbase.ids import utcnow
from moonbase.models import DeliveryState, Webhook, WebhookDelivery
from moonbase.provisioners.base import BranchPlan, Progress, TemporaryFailure
from moonbase.provisioners.fake import FakeProvisioner

from api_support import (
    ORG,
    WAIT,
    assert_error,
    branch_path,
    create_branch,
    create_db,
    db_path,
    ready_branch,
    ready_db,
    settings_for,
    store,
    wait_until,
)
from contract import assert_matches_spec
from helpers import ADMIN, ADMIN_ID, ADMIN_SECRET, make_dir


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 (port 0) that records every POST and answers each with the
    next of ``statuses`` (the last one repeats)."""

    def __init__(self, statuses: tuple[int, ...] = (200,)) -> None:
        self.statuses = list(statuses)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else (
                        receiver.statuses[0]
                    )  # fmt: skip
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def wait_for(self, count: int) -> list[Received]:
        def enough() -> list[Received] | None:
            with self._lock:
                return list(self.received) if len(self.received) >= count else None

        return wait_until(enough, what=f"{count} webhook request(s) at {self.url}")


class GatedFake(FakeProvisioner):
    """Servers start only once ``gate`` is opened: a new database's main branch stays pending
    until the test has made its webhooks."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def converge(self, plan: BranchPlan, progress: Progress) -> None:
        if not self.gate.wait(WAIT):
            raise TemporaryFailure("the test never opened the gate")
        super().converge(plan, progress)


@contextmanager
def served(
    home: Path | None = None, fake: FakeProvisioner | None = None, **changes: object
) -> Iterator[TestClient]:
    """An installation on ``home`` (a fresh one when None; kept when given, for restarts)."""
    own = home is None
    path = make_dir("moonbase-hooktest-") if home is None else home
    fake = fake or FakeProvisioner()
    changes.setdefault("webhook_retry_delay", 0.1)
    try:
        app = create_app(settings_for(path, **changes), lambda _s: fake)
        with TestClient(app, base_url="http://testserver") as client:
            client.headers.update(ADMIN)
            try:
                yield client
            finally:
                if isinstance(fake, GatedFake):
                    fake.gate.set()  # let blocked reconcile attempts end
    finally:
        if own:
            shutil.rmtree(path, ignore_errors=True)


def hooks_path(db: str) -> str:
    return f"{db_path(db)}/webhooks"


def create_hook(client: TestClient, db: str, url: str, **extra: Any) -> dict[str, Any]:
    response = client.post(hooks_path(db), json={"url": url, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(app: FastAPI) -> list[WebhookDelivery]:
    with store(app).tx() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_test_webhook_sends_a_signed_webhook_test() -> None:
    with Receiver() as receiver, served() as api:
        ready_db(api, "shop")
        hook = create_hook(api, "shop", f"{receiver.url}/hooks/ps", events=["branch.ready"])
        before = int(time.time())
        assert api.post(f"{hooks_path('shop')}/{hook['id']}/test").status_code == 204

        (got,) = receiver.wait_for(1)
        assert got.path == "/hooks/ps"
        assert got.headers["Content-Type"] == "application/json"
        assert hmac.compare_digest(
            got.headers["X-PlanetScale-Signature"], signature(hook["secret"], got.body)
        )
        assert got.headers["X-PlanetScale-Signature"] != signature("wrong", got.body)
        payload = got.json()
        assert set(payload) == {"timestamp", "event", "organization", "database", "resource"}
        assert payload["event"] == "webhook.test"
        assert (payload["organization"], payload["database"]) == (ORG, "shop")
        assert isinstance(payload["timestamp"], int)
        assert before <= payload["timestamp"] <= int(time.time())
        resource = payload["resource"]
        assert resource["id"] == hook["id"] and resource["url"] == hook["url"]
        assert "secret" not in resource  # the payload never carries the signing key

        def recorded() -> dict[str, Any] | None:
            body = api.get(f"{hooks_path('shop')}/{hook['id']}").json()
            return body if body["last_sent_at"] else None

        after = wait_until(recorded, what="last_sent_at to be recorded")
        assert_matches_spec("get_webhook", 200, after)
        assert after["last_sent_success"] is True and after["last_sent_result"] == "200 OK"
        assert after["updated_at"] == hook["updated_at"]  # bookkeeping, not a user's change


def test_a_failed_delivery_is_retried_with_the_same_bytes() -> None:
    with Receiver(statuses=(500, 200)) as receiver, served() as api:
        app: FastAPI = api.app  # type: ignore[assignment]
        ready_db(api, "shop")
        hook = create_hook(api, "shop", f"{receiver.url}/retry")
        assert api.post(f"{hooks_path('shop')}/{hook['id']}/test").status_code == 204

        first, second = receiver.wait_for(2)
        assert first.body == second.body
        assert first.headers["X-PlanetScale-Signature"] == second.headers["X-PlanetScale-Signature"]

        def success() -> dict[str, Any] | None:
            body = api.get(f"{hooks_path('shop')}/{hook['id']}").json()
            return body if body["last_sent_success"] else None

        after = wait_until(success, what="last_sent_success to become true")
        assert after["last_sent_result"] == "200 OK"
        (row,) = deliveries(app)
        assert (row.state, row.attempts, row.event) == (DeliveryState.DELIVERED, 2, "webhook.test")
        assert len(receiver.received) == 2


def test_gives_up_after_the_last_attempt_and_follows_no_redirect() -> None:
    with Receiver(statuses=(302,)) as receiver, served(webhook_max_attempts=3) as api:
        app: FastAPI = api.app  # type: ignore[assignment]
        ready_db(api, "shop")
        hook = create_hook(api, "shop", f"{receiver.url}/moved")
        assert api.post(f"{hooks_path('shop')}/{hook['id']}/test").status_code == 204

        def failed() -> WebhookDelivery | None:
            rows = deliveries(app)
            return rows[0] if rows and rows[0].state == DeliveryState.FAILED else None

        row = wait_until(failed, what="the delivery to fail for good")
        assert row.attempts == 3
        assert [r.path for r in receiver.received] == ["/moved"] * 3  # never /elsewhere
        body = api.get(f"{hooks_path('shop')}/{hook['id']}").json()
        assert body["last_sent_success"] is False
        assert body["last_sent_result"] == "302 Found (redirects are not followed)"


def test_branch_ready_is_sent_when_a_new_database_is_ready() -> None:
    fake = GatedFake()
    with Receiver() as receiver, served(fake=fake) as api:
        app: FastAPI = api.app  # type: ignore[assignment]
        create_db(api, "shop")  # its main branch waits for the gate
        wanted = create_hook(api, "shop", f"{receiver.url}/ready", events=["branch.ready"])
        create_hook(api, "shop", f"{receiver.url}/tests-only", events=["webhook.test"])
        create_hook(api, "shop", f"{receiver.url}/off", events=["branch.ready"], enabled=False)
        fake.gate.set()

        (got,) = receiver.wait_for(1)
        assert got.path == "/ready"
        assert got.headers["X-PlanetScale-Signature"] == signature(wanted["secret"], got.body)
        payload = got.json()
        assert (payload["event"], payload["organization"], payload["database"]) == (
            "branch.ready", ORG, "shop",
        )  # fmt: skip
        resource = payload["resource"]
        assert_matches_spec("get_branch", 200, resource)
        current = api.get(branch_path("shop")).json()
        assert resource["ready"] is True and resource["state"] == "ready"
        assert {k: v for k, v in resource.items() if k != "status"} == {
            k: v for k, v in current.items() if k != "status"
        }  # the JSON get_branch shows
        # only the enabled webhook that subscribes to branch.ready got a delivery at all
        assert [d.webhook_id for d in deliveries(app)] == [wanted["id"]]

        create_branch(api, "shop", "dev")
        _, second = receiver.wait_for(2)
        assert second.json()["resource"]["name"] == "dev"
        assert second.json()["resource"]["parent_branch"] == "main"


def test_nothing_is_sent_for_a_change_that_rolled_back() -> None:
    with Receiver() as receiver, served() as api:
        app: FastAPI = api.app  # type: ignore[assignment]
        outbox = app.state.webhooks
        ready_db(api, "shop")
        hook = create_hook(api, "shop", f"{receiver.url}/tx", events=["webhook.test"])

        with pytest.raises(RuntimeError), store(app).tx() as s:
            found = s.get(Webhook, hook["id"])
            assert outbox.enqueue(s, [found], "webhook.test", ORG, "shop", {"n": 1}) == 1
            raise RuntimeError("the change failed after queueing its event")
        assert deliveries(app) == []
        # a refused request queues nothing either (and its failed validation writes nothing)
        url = f"{hooks_path('shop')}/{hook['id']}"
        assert_error(api.patch(url, json={"events": ["nope"]}), 422, "unprocessable")

        with store(app).tx() as s:
            found = s.get(Webhook, hook["id"])
            outbox.enqueue(s, [found], "webhook.test", ORG, "shop", {"n": 2})
        (got,) = receiver.wait_for(1)
        assert got.json()["resource"] == {"n": 2}
        wait_until(lambda: deliveries(app)[0].state == DeliveryState.DELIVERED)
        assert len(receiver.received) == 1


def test_the_wake_up_comes_only_after_commit() -> None:
    with served() as api:
        app: FastAPI = api.app  # type: ignore[assignment]
        ready_db(api, "shop")
        hook = create_hook(api, "shop", "http://127.0.0.1:9/x")
        wakes: list[str] = []
        outbox = type(app.state.webhooks)(app.state.settings, wake=lambda: wakes.append("w"))
        with pytest.raises(RuntimeError), store(app).tx() as s:
            outbox.enqueue(s, [s.get(Webhook, hook["id"])], "webhook.test", ORG, "shop", {})
            assert wakes == []
            raise RuntimeError
        assert wakes == []
        with store(app).tx() as s:
            outbox.enqueue(s, [s.get(Webhook, hook["id"])], "webhook.test", ORG, "shop", {})
            assert wakes == []
        assert wakes == ["w"]


def test_pending_deliveries_survive_a_restart() -> None:
    home = make_dir("moonbase-hookrestart-")
    try:
        with Receiver(statuses=(503,)) as receiver:
            with served(home, webhook_retry_delay=0.5) as api:
                ready_db(api, "shop")
                hook = create_hook(api, "shop", f"{receiver.url}/later")
                assert api.post(f"{hooks_path('shop')}/{hook['id']}/test").status_code == 204
                (first,) = receiver.wait_for(1)
            receiver.statuses = [200]  # the receiver is back; Moonbase starts again
            with served(home, webhook_retry_delay=0.5) as api:
                app: FastAPI = api.app  # type: ignore[assignment]

                def delivered() -> WebhookDelivery | None:
                    rows = deliveries(app)
                    return rows[0] if rows[0].state == DeliveryState.DELIVERED else None

                row = wait_until(delivered, what="the delivery queued before the restart")
                assert row.attempts >= 2 and row.event == "webhook.test"
                assert all(r.body == first.body for r in receiver.received)
                body = api.get(f"{hooks_path('shop')}/{hook['id']}").json()
                assert body["last_sent_success"] is True
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_a_claim_left_by_a_killed_process_is_released_at_start() -> None:
    home = make_dir("moonbase-hooklease-")
    try:
        with Receiver() as receiver:
            with served(home) as api:
                ready_db(api, "shop")
                hook = create_hook(api, "shop", f"{receiver.url}/claimed")
                app: FastAPI = api.app  # type: ignore[assignment]
                # queued and claimed by a worker that then died: held for another minute
                app.state.webhooks.wake = lambda: None
                with store(app).tx() as s:
                    found = s.get(Webhook, hook["id"])
                    app.state.webhooks.enqueue(s, [found], "webhook.test", ORG, "shop", {})
                    s.flush()
                    for row in s.scalars(select(WebhookDelivery)):
                        row.lease_until = utcnow() + timedelta(minutes=1)
            assert receiver.received == []
            with served(home) as api:
                receiver.wait_for(1)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def uvicorn_served(**changes: object) -> Iterator[str]:
    """The app served over HTTP on 127.0.0.1 (a socket bound to port 0), for the CLI."""
    home = make_dir("moonbase-hookcli-")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings_for(home, port=port, **changes), lambda _s: FakeProvisioner())
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, what="uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        shutil.rmtree(home, ignore_errors=True)
    assert not thread.is_alive()


def test_webhook_cli_commands() -> None:
    with Receiver() as receiver, uvicorn_served() as url:
        env = {
            "MOONBASE_URL": url, "MOONBASE_ORG": ORG,
            "MOONBASE_TOKEN_ID": ADMIN_ID, "MOONBASE_TOKEN": ADMIN_SECRET, "COLUMNS": "200",
        }  # fmt: skip
        runner = CliRunner()

        def cli(*args: str, code: int = 0) -> str:
            result = runner.invoke(cli_app, list(args), env=env)
            assert result.exit_code == code, f"moonbase {' '.join(args)}:\n{result.output}"
            return result.output

        cli("database", "create", "shop", "--wait")
        made = json.loads(
            cli("webhook", "create", "shop", "--url", f"{receiver.url}/cli",
                "--events", "branch.ready, webhook.test", "--format", "json")
        )  # fmt: skip
        assert made["events"] == ["branch.ready", "webhook.test"] and made["enabled"] is True
        listed = json.loads(cli("webhook", "list", "shop", "--format", "json"))
        assert [h["id"] for h in listed] == [made["id"]]
        assert made["id"] in cli("webhook", "list", "shop")
        shown = json.loads(cli("webhook", "show", "shop", made["id"], "--format", "json"))
        assert shown["secret"] == made["secret"]

        cli("webhook", "test", "shop", made["id"])
        (got,) = receiver.wait_for(1)
        assert got.json()["event"] == "webhook.test"
        assert got.headers["X-PlanetScale-Signature"] == signature(made["secret"], got.body)
        assert "rate_limited" in cli("webhook", "test", "shop", made["id"], code=1)

        updated = json.loads(
            cli("webhook", "update", "shop", made["id"], "--disabled", "--format", "json")
        )
        assert updated["enabled"] is False
        assert "422" in cli("webhook", "create", "shop", "--url", "ftp://nope", code=1)

        cli("webhook", "delete", "shop", made["id"])
        assert json.loads(cli("webhook", "list", "shop", "--format", "json")) == []


def test_a_webhook_that_keeps_failing_is_disabled_until_enabled_again() -> None:
    with (
        Receiver(statuses=(500,)) as receiver,
        served(webhook_max_attempts=1, webhook_disable_after=3) as api,
    ):
        app: FastAPI = api.app  # type: ignore[assignment]
        ready_db(api, "shop")
        hook = create_hook(api, "shop", f"{receiver.url}/down", events=["branch.ready"])
        url = f"{hooks_path('shop')}/{hook['id']}"

        def finished() -> list[WebhookDelivery]:
            return [r for r in deliveries(app) if r.state != DeliveryState.PENDING]

        # test events never count: three failed tests leave it enabled
        for _ in range(3):
            assert api.post(f"{url}/test").status_code == 204
            with store(app).tx() as s:  # skip test_webhook's 20-second spacing
                s.execute(
                    update(Webhook).values(last_tested_at=None, updated_at=Webhook.updated_at)
                )
        wait_until(lambda: len(finished()) == 3 or None, what="three failed test deliveries")
        before = api.get(url).json()
        assert before["enabled"] is True

        for n in range(2):
            ready_branch(api, "shop", f"dev{n}")
        wait_until(lambda: len(finished()) == 5 or None, what="two failed branch.ready deliveries")
        assert api.get(url).json()["enabled"] is True  # two in a row: not yet

        ready_branch(api, "shop", "dev2")

        def disabled() -> dict[str, Any] | None:
            body = api.get(url).json()
            return body if not body["enabled"] else None

        body = wait_until(disabled, what="the webhook to be disabled")
        assert_matches_spec("get_webhook", 200, body)
        assert body["last_sent_success"] is False
        assert body["last_sent_result"] == (
            "500 Internal Server Error; disabled after 3 failed deliveries in a row"
        )
        assert body["updated_at"] == before["updated_at"]  # Moonbase's doing, not a user's
        sent = len(receiver.received)
        ready_branch(api, "shop", "dev3")  # disabled: nothing is queued (ready commits it)
        assert len(deliveries(app)) == 6 and len(receiver.received) == sent

        # enabled again by a user: a fresh start, so one more failure does not disable it
        assert api.patch(url, json={"enabled": True}).json()["enabled"] is True
        ready_branch(api, "shop", "dev4")
        wait_until(lambda: len(finished()) == 7 or None, what="the next failed delivery")
        assert api.get(url).json()["enabled"] is True
