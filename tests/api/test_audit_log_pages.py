"""The audit log pages by cursor, newest first, both ways; old entries are forgotten."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from audit_support import audit_entries, audit_page, backdate, stored_count, update_org
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from moonbase.ids import utcnow
from moonbase.models import AuditLog
from moonbase.settings import Settings, from_env

from api_support import assert_error, installation, org_path, store


@pytest.fixture
def logged() -> Iterator[tuple[TestClient, FastAPI, list[str]]]:
    """An installation with 7 audit entries; their ids newest first."""
    with installation() as (client, _fake):
        for n in range(7):
            update_org(client, n)
        ids = [e["id"] for e in audit_entries(client)]
        assert len(ids) == 7
        yield client, client.app, ids  # type: ignore[misc]


def _ids(page: dict[str, object]) -> list[str]:
    return [e["id"] for e in page["data"]]  # type: ignore[attr-defined]


def test_newest_first(logged: tuple[TestClient, FastAPI, list[str]]) -> None:
    api, _app, ids = logged
    emails = [e["metadata"]["billing_email"] for e in audit_entries(api)]
    assert emails == [f"billing{n}@example.com" for n in reversed(range(7))]
    assert _ids(audit_page(api)) == ids


def test_forward_and_back(logged: tuple[TestClient, FastAPI, list[str]]) -> None:
    api, _app, ids = logged
    first = audit_page(api, limit=3)
    assert _ids(first) == ids[0:3]
    assert (first["has_prev"], first["has_next"]) == (False, True)
    assert (first["cursor_start"], first["cursor_end"]) == (ids[0], ids[2])

    second = audit_page(api, limit=3, starting_after=first["cursor_end"])
    assert _ids(second) == ids[3:6]
    assert (second["has_prev"], second["has_next"]) == (True, True)

    last = audit_page(api, limit=3, starting_after=second["cursor_end"])
    assert _ids(last) == ids[6:7]
    assert (last["has_prev"], last["has_next"]) == (True, False)

    back = audit_page(api, limit=3, ending_before=last["cursor_start"])
    assert _ids(back) == ids[3:6]
    assert (back["has_prev"], back["has_next"]) == (True, True)

    front = audit_page(api, limit=3, ending_before=back["cursor_start"])
    assert _ids(front) == ids[0:3]
    assert (front["has_prev"], front["has_next"]) == (False, True)

    short = audit_page(api, limit=2, ending_before=ids[3])
    assert _ids(short) == ids[1:3], "the entries just before the cursor"
    assert (short["has_prev"], short["has_next"]) == (True, True)


def test_pages_at_the_ends(logged: tuple[TestClient, FastAPI, list[str]]) -> None:
    api, _app, ids = logged
    before_all = audit_page(api, ending_before=ids[0])
    assert before_all["data"] == [] and before_all["cursor_start"] is None
    assert (before_all["has_prev"], before_all["has_next"]) == (False, True)
    after_all = audit_page(api, starting_after=ids[-1])
    assert after_all["data"] == [] and after_all["cursor_end"] is None
    assert (after_all["has_prev"], after_all["has_next"]) == (True, False)
    exact = audit_page(api, limit=7)
    assert (exact["has_prev"], exact["has_next"]) == (False, False)


def test_entries_of_the_same_instant_page_once_each(
    logged: tuple[TestClient, FastAPI, list[str]],
) -> None:
    api, app, ids = logged
    with store(app).tx() as s:
        s.execute(update(AuditLog).values(created_at=utcnow().replace(microsecond=0)))
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"starting_after": cursor} if cursor else {})}
        page = audit_page(api, **params)
        seen += _ids(page)
        if not page["has_next"]:
            break
        cursor = page["cursor_end"]
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    backwards: list[str] = []
    cursor = seen[-1]
    while True:
        page = audit_page(api, limit=3, ending_before=cursor)
        backwards = _ids(page) + backwards
        if not page["has_prev"]:
            break
        cursor = page["cursor_start"]
    assert backwards + [seen[-1]] == seen


def test_default_limit_is_25() -> None:
    with installation() as (api, _fake):
        for n in range(26):
            update_org(api, n)
        page = audit_page(api)
        assert len(page["data"]) == 25 and page["has_next"] is True


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "many"},
        {"starting_after": "nosuchentry1"},
        {"ending_before": "nosuchentry1"},
        {"filters[]": "actor:someone"},
    ],
)
def test_bad_parameters(logged: tuple[TestClient, FastAPI, list[str]], params: dict) -> None:  # type: ignore[type-arg]
    api, _app, _ids = logged
    assert_error(api.get(f"{org_path()}/audit-log", params=params), 422, "unprocessable")


def test_one_cursor_at_a_time(logged: tuple[TestClient, FastAPI, list[str]]) -> None:
    api, _app, ids = logged
    params = {"starting_after": ids[1], "ending_before": ids[3]}
    assert_error(api.get(f"{org_path()}/audit-log", params=params), 422, "unprocessable")


def test_filter_by_action(logged: tuple[TestClient, FastAPI, list[str]]) -> None:
    api, _app, ids = logged
    assert _ids(audit_page(api, **{"filters[]": "audit_action:organization.updated"})) == ids
    assert audit_page(api, **{"filters[]": "audit_action:database.created"})["data"] == []


def test_retention() -> None:
    with installation(audit_retention_days=30) as (api, _fake):
        app: FastAPI = api.app  # type: ignore[assignment]
        for n in range(3):
            update_org(api, n)
        ids = [e["id"] for e in audit_entries(api)]
        backdate(app, ids[1:], days=31)
        # past retention: not shown at once, deleted by the next sweep
        assert [e["id"] for e in audit_entries(api)] == ids[:1]
        assert stored_count(app) == 3
        trail = app.state.audit_trail
        later = utcnow() + trail.sweep_every + timedelta(seconds=1)
        trail.clock = lambda: later
        update_org(api, 3)
        with store(app).tx() as s:
            left = set(s.scalars(select(AuditLog.id)))
        assert ids[0] in left and not left & set(ids[1:]), "the old ones are gone"
        assert len(left) == 2


def test_no_sweep_between_sweeps() -> None:
    """Sweeps are at most every ``sweep_every``: a write in between leaves old rows (hidden)."""
    with installation(audit_retention_days=30) as (api, _fake):
        app: FastAPI = api.app  # type: ignore[assignment]
        update_org(api, 0)
        backdate(app, [e["id"] for e in audit_entries(api)], days=31)
        update_org(api, 1)
        assert stored_count(app) == 2 and len(audit_entries(api)) == 1


def test_retention_setting() -> None:
    assert Settings().audit_retention_days == 180
    assert from_env({"MOONBASE_AUDIT_RETENTION_DAYS": "7"}).audit_retention_days == 7
