"""Webhooks per database: the six operations, their shapes, validation and limits.

Deliveries (signatures, retries, branch.ready, restarts, the CLI) are in
test_webhook_delivery.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moonbase.api.access import RULES
from moonbase.contract.facts import operation
from moonbase.models import Database, Webhook, WebhookDelivery
from moonbase.webhooks.policy import EVENTS, MAX_PER_DATABASE

from api_support import (
    ID_RE,
    TIMESTAMP_RE,
    add_organization,
    assert_error,
    db_id,
    db_path,
    installation,
    org_id,
    ready_db,
    service_token,
    store,
    wait_until,
)
from contract import assert_matches_spec

OPERATIONS = (
    "list_webhooks", "create_webhook", "get_webhook", "update_webhook", "delete_webhook",
    "test_webhook",
)  # fmt: skip


def hooks_path(db: str) -> str:
    return f"{db_path(db)}/webhooks"


def create_hook(client: TestClient, db: str, url: str, **extra: Any) -> dict[str, Any]:
    response = client.post(hooks_path(db), json={"url": url, **extra})
    assert response.status_code == 201, response.text
    assert_matches_spec("create_webhook", 201, response.json())
    return response.json()


def stored_hooks(app: FastAPI) -> int:
    with store(app).tx() as s:
        return s.scalar(select(func.count()).select_from(Webhook)) or 0


def test_crud_in_the_spec_shape(api: TestClient) -> None:
    ready_db(api, "shop")
    made = create_hook(api, "shop", "https://hooks.example.com/ps")
    assert ID_RE.match(made["id"])
    assert made["url"] == "https://hooks.example.com/ps"
    assert made["enabled"] is True and made["events"] == []
    assert len(made["secret"]) >= 32 and made["secret"].isalnum()
    # nothing sent yet: the spec's non-nullable fields read "" / false
    assert (made["last_sent_result"], made["last_sent_success"], made["last_sent_at"]) == (
        "", False, None,
    )  # fmt: skip
    assert TIMESTAMP_RE.match(made["created_at"]) and TIMESTAMP_RE.match(made["updated_at"])

    got = api.get(f"{hooks_path('shop')}/{made['id']}")
    assert got.status_code == 200
    assert_matches_spec("get_webhook", 200, got.json())
    assert got.json() == made

    second = create_hook(
        api, "shop", "http://10.0.0.7:8080/hook", enabled=False,
        events=["branch.ready", "webhook.test", "branch.ready"],
    )  # fmt: skip
    assert second["enabled"] is False
    assert second["events"] == ["branch.ready", "webhook.test"]  # each once, in order given
    assert second["secret"] != made["secret"]

    listed = api.get(hooks_path("shop"))
    assert listed.status_code == 200
    assert_matches_spec("list_webhooks", 200, listed.json())
    assert [h["id"] for h in listed.json()["data"]] == [made["id"], second["id"]]
    paged = api.get(hooks_path("shop"), params={"per_page": 1, "page": 2}).json()
    assert [h["id"] for h in paged["data"]] == [second["id"]] and paged["prev_page"] == 1

    patched = api.patch(
        f"{hooks_path('shop')}/{second['id']}",
        json={"enabled": True, "events": ["deploy_request.opened"], "url": "https://b.example/x"},
    )
    assert patched.status_code == 200, patched.text
    assert_matches_spec("update_webhook", 200, patched.json())
    body = patched.json()
    assert body["enabled"] is True and body["events"] == ["deploy_request.opened"]
    assert body["url"] == "https://b.example/x" and body["secret"] == second["secret"]
    untouched = api.patch(f"{hooks_path('shop')}/{second['id']}", json={}).json()
    assert {k: v for k, v in untouched.items() if k != "updated_at"} == {
        k: v for k, v in body.items() if k != "updated_at"
    }

    deleted = api.delete(f"{hooks_path('shop')}/{made['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert_matches_spec("delete_webhook", 204, None)
    assert_error(api.get(f"{hooks_path('shop')}/{made['id']}"), 404, "not_found")
    assert [h["id"] for h in api.get(hooks_path("shop")).json()["data"]] == [second["id"]]


def test_every_planetscale_event_name_is_accepted(api: TestClient) -> None:
    spec_enum = operation("create_webhook")["responses"]["201"]["properties"]["events"]["items"]
    assert tuple(spec_enum["enum"]) == EVENTS and len(EVENTS) == 19
    ready_db(api, "shop")
    made = create_hook(api, "shop", "https://hooks.example.com/all", events=list(EVENTS))
    assert made["events"] == list(EVENTS)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "url"),
        ({"url": None}, "url"),
        ({"url": 42}, "url"),
        ({"url": ""}, "url"),
        ({"url": "hooks.example.com/x"}, "http"),
        ({"url": "ftp://hooks.example.com/x"}, "http"),
        ({"url": "javascript:alert(1)"}, "http"),
        ({"url": "https://"}, "host"),
        ({"url": "https:///path-only"}, "host"),
        ({"url": "https://hooks.example.com:http/x"}, "not a valid URL"),
        ({"url": "https://hooks.example.com/a b"}, "spaces"),
        ({"url": "https://hooks.example.com/\n"}, "control"),
        ({"url": "https://h.example/" + "x" * 2048}, "2048"),
        ({"url": "https://h.example/x", "events": ["branch.created"]}, "branch.created"),
        ({"url": "https://h.example/x", "events": "branch.ready"}, "events"),
        ({"url": "https://h.example/x", "events": [1]}, "events"),
        ({"url": "https://h.example/x", "enabled": "yes"}, "enabled"),
    ],
)
def test_invalid_bodies_are_422_and_store_nothing(
    api: TestClient, app: FastAPI, body: dict[str, Any], words: str
) -> None:
    ready_db(api, "shop")
    error = assert_error(api.post(hooks_path("shop"), json=body), 422, "unprocessable")
    assert words in error["message"], error
    assert stored_hooks(app) == 0

    made = create_hook(api, "shop", "https://ok.example/hook", events=["branch.ready"])
    if body in ({}, {"url": None}):
        return  # an update may leave the url out
    url = f"{hooks_path('shop')}/{made['id']}"
    assert_error(api.patch(url, json=body), 422, "unprocessable")
    assert api.get(url).json() == made  # nothing half-written


def test_malformed_json_is_400(api: TestClient, app: FastAPI) -> None:
    ready_db(api, "shop")
    response = api.post(
        hooks_path("shop"), content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "bad_request")
    assert_error(api.post(hooks_path("shop"), json=["https://x.example"]), 400, "bad_request")
    assert stored_hooks(app) == 0


def test_at_most_five_per_database_and_each_url_once(api: TestClient, app: FastAPI) -> None:
    ready_db(api, "shop")
    ready_db(api, "other")
    made = [create_hook(api, "shop", f"https://h.example/{i}") for i in range(MAX_PER_DATABASE)]
    error = assert_error(
        api.post(hooks_path("shop"), json={"url": "https://h.example/6"}), 422, "unprocessable"
    )
    assert "5" in error["message"]
    assert stored_hooks(app) == MAX_PER_DATABASE
    create_hook(api, "other", "https://h.example/6")  # the limit is per database

    assert api.delete(f"{hooks_path('shop')}/{made[0]['id']}").status_code == 204
    create_hook(api, "shop", "https://h.example/6")

    # one webhook per URL and database: creating or moving onto a taken URL is refused
    error = assert_error(
        api.post(hooks_path("other"), json={"url": "https://h.example/6"}), 422, "unprocessable"
    )
    assert "already has a webhook" in error["message"]
    assert_error(
        api.patch(f"{hooks_path('shop')}/{made[1]['id']}", json={"url": "https://h.example/2"}),
        422,
        "unprocessable",
    )
    same = api.patch(f"{hooks_path('shop')}/{made[1]['id']}", json={"url": made[1]["url"]})
    assert same.status_code == 200


def test_allowed_hosts_setting() -> None:
    with installation(webhook_allowed_hosts=("hooks.example.com", "127.0.0.1")) as (api, _):
        ready_db(api, "shop")
        made = create_hook(api, "shop", "https://HOOKS.example.com/x")
        create_hook(api, "shop", "http://127.0.0.1:9999/x")
        for url in ("https://evil.example/x", "https://hooks.example.com.evil.example/x",
                    "http://localhost:9999/x"):  # fmt: skip
            error = assert_error(
                api.post(hooks_path("shop"), json={"url": url}), 422, "unprocessable"
            )
            assert "hooks.example.com" in error["message"]
            assert_error(
                api.patch(f"{hooks_path('shop')}/{made['id']}", json={"url": url}),
                422,
                "unprocessable",
            )


def test_webhooks_belong_to_their_database_and_organization(api: TestClient, app: FastAPI) -> None:
    ready_db(api, "shop")
    ready_db(api, "other")
    made = create_hook(api, "shop", "https://h.example/x")
    for method in ("GET", "PATCH", "DELETE"):
        response = api.request(method, f"{hooks_path('other')}/{made['id']}", json={})
        assert_error(response, 404, "not_found")
    assert_error(api.post(f"{hooks_path('other')}/{made['id']}/test"), 404, "not_found")
    assert_error(api.get(f"{hooks_path('shop')}/nosuchhook00"), 404, "not_found")
    assert_error(api.get(hooks_path("nosuchdb")), 404, "not_found")

    _, stranger = add_organization(app, "globex")
    response = api.get(hooks_path("shop"), headers=stranger)
    assert_error(response, 404, "not_found")
    assert api.get(f"{hooks_path('shop')}/{made['id']}").status_code == 200


def test_accesses_are_the_specs() -> None:
    for op in OPERATIONS:
        facts = operation(op)
        rule = RULES[op]
        assert rule.restricted
        assert set(rule.accesses) == set(facts["token_accesses"]), op
        spec_scopes = {level: set(names) for level, names in facts["oauth_scopes"].items() if names}
        assert {level: set(names) for level, names in rule.scopes.items()} == spec_scopes, op


def test_read_database_reads_and_write_database_writes(api: TestClient, app: FastAPI) -> None:
    ready_db(api, "shop")
    made = create_hook(api, "shop", "https://h.example/x")
    shop = db_id(app, "shop")
    reader = service_token(app, [("read_database", "Database", shop)])
    writer = service_token(app, [("write_database", "Database", shop)])
    org_wide = service_token(app, [("write_database", "Organization", org_id(app))])
    one = f"{hooks_path('shop')}/{made['id']}"

    assert api.get(hooks_path("shop"), headers=reader).status_code == 200
    assert api.get(one, headers=reader).status_code == 200
    for method, url, body in (
        ("POST", hooks_path("shop"), {"url": "https://h.example/y"}),
        ("PATCH", one, {"enabled": False}),
        ("DELETE", one, None),
        ("POST", f"{one}/test", None),
    ):
        assert_error(api.request(method, url, json=body, headers=reader), 404, "not_found")
    # the spec gives reading to read_database alone
    assert_error(api.get(one, headers=writer), 404, "not_found")
    patched = api.patch(one, json={"enabled": False}, headers=writer)
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert api.post(hooks_path("shop"), json={"url": "https://h.example/z"},
                    headers=org_wide).status_code == 201  # fmt: skip


def test_test_webhook_is_limited_to_once_per_20_seconds(api: TestClient, app: FastAPI) -> None:
    """The limit itself (deliveries are in test_webhook_delivery.py). The receiver does not
    exist: the delivery fails, which does not matter here."""
    ready_db(api, "shop")
    made = create_hook(api, "shop", "http://127.0.0.1:9/nobody")
    test = f"{hooks_path('shop')}/{made['id']}/test"
    first = api.post(test)
    assert first.status_code == 204 and first.content == b""
    assert_matches_spec("test_webhook", 204, None)
    error = assert_error(api.post(test), 429, "rate_limited")
    assert "20 seconds" in error["message"]

    def queued() -> int:
        with store(app).tx() as s:
            return s.scalar(select(func.count()).select_from(WebhookDelivery)) or 0

    assert queued() == 1  # the refused test queued nothing
    other = create_hook(api, "shop", "http://127.0.0.1:9/other")
    assert api.post(f"{hooks_path('shop')}/{other['id']}/test").status_code == 204  # per webhook

    with store(app).tx() as s:  # 21 s later
        hook = s.get(Webhook, made["id"])
        assert hook is not None and hook.last_tested_at is not None
        hook.last_tested_at = hook.last_tested_at.replace(year=hook.last_tested_at.year - 1)
    assert api.post(test).status_code == 204
    assert queued() == 3


def test_deleting_the_database_removes_its_webhooks(api: TestClient, app: FastAPI) -> None:
    ready_db(api, "shop")
    ready_db(api, "other")
    create_hook(api, "shop", "https://h.example/gone")
    kept = create_hook(api, "other", "https://h.example/kept")
    shop = db_id(app, "shop")
    assert api.delete(db_path("shop")).status_code == 204
    assert_error(api.get(hooks_path("shop")), 404, "not_found")

    def torn_down() -> bool:
        with store(app).tx() as s:
            return s.get(Database, shop) is None

    wait_until(torn_down, what="the deleted database's rows to go")
    with store(app).tx() as s:
        assert [h.id for h in s.scalars(select(Webhook))] == [kept["id"]]
