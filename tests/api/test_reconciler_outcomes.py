"""What the API shows of the reconciler's work, with the fake provisioner.

Failures are injected through ``fake.failures`` (raised by the next ``converge`` calls); the
tests poll with deadlines and never assume how quickly the background thread runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from moonbase.ids import utcnow
from moonbase.models import SchemaSnapshot
from moonbase.provisioners.fake import FakeProvisioner, PermanentFailure, TemporaryFailure

from api_support import (
    assert_error,
    branch_path,
    create_db,
    db_path,
    get_branch,
    list_all_names,
    org_path,
    ready_db,
    wait_ready,
    wait_until,
)
from contract import assert_matches_spec


def _parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _failed_branch(api: TestClient, db: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        branch = get_branch(api, db)
        return branch if branch["status"]["failure"] else None

    return wait_until(probe, what=f"a failure recorded on {db}/main")


def test_temporary_failure_is_shown_then_retried(api: TestClient, fake: FakeProvisioner) -> None:
    fake.failures.append(TemporaryFailure("boom"))
    create_db(api, "shop")

    branch = _failed_branch(api, "shop")
    assert_matches_spec("get_branch", 200, branch)
    assert branch["state"] == "pending" and branch["ready"] is False
    status = branch["status"]
    assert status["failure"] == "boom"
    assert status["failed_permanently"] is False
    assert status["attempts"] >= 1
    assert "boom" in status["verdict"]
    # next attempt after a short backoff (about a second), counted from the failure
    delay = _parse(status["next_attempt_at"]) - _parse(branch["updated_at"])
    assert timedelta(seconds=0.5) <= delay <= timedelta(seconds=2), delay
    db = api.get(db_path("shop")).json()
    assert db["ready"] is False and db["state"] == "pending"
    assert branch["id"] not in fake.running

    # the retry (after a backoff of about a second) succeeds: the fake has no more failures
    ready = wait_ready(api, "shop")
    assert ready["state"] == "ready"
    branch = get_branch(api, "shop")
    assert branch["state"] == "ready" and branch["ready"] is True
    assert branch["status"]["failure"] is None
    assert branch["status"]["attempts"] == 0
    assert branch["status"]["next_attempt_at"] is None
    assert branch["status"]["ready_at"] is not None
    assert branch["id"] in fake.running
    assert branch["mysql_address"].endswith(f":{fake.running[branch['id']].ports[0]}")
    assert not fake.failures


def test_permanent_failure_is_recorded(api: TestClient, fake: FakeProvisioner) -> None:
    fake.failures.append(PermanentFailure("no server binaries for mysql"))
    before = datetime.now(UTC)
    create_db(api, "shop")

    branch = _failed_branch(api, "shop")
    status = branch["status"]
    assert status["failure"] == "no server binaries for mysql"
    assert status["failed_permanently"] is True
    assert branch["state"] == "pending" and branch["ready"] is False
    # retried only rarely (minutes, not the seconds of a temporary failure)
    assert _parse(status["next_attempt_at"]) >= before + timedelta(minutes=2)
    assert status["attempts"] == 1
    assert branch["id"] not in fake.running
    assert api.get(db_path("shop")).json()["ready"] is False


def test_other_databases_are_not_held_up_by_a_failing_one(
    api: TestClient, fake: FakeProvisioner
) -> None:
    fake.failures.append(PermanentFailure("broken"))
    create_db(api, "broken")
    _failed_branch(api, "broken")
    ready_db(api, "fine")  # converges while "broken" waits for its (rare) retry
    assert api.get(db_path("broken")).json()["ready"] is False


def test_delete_is_immediate_and_tears_down(api: TestClient, fake: FakeProvisioner) -> None:
    ready_db(api, "shop")
    create_db(api, "keep")
    branch_id = get_branch(api, "shop")["id"]
    assert branch_id in fake.running

    response = api.delete(db_path("shop"))
    assert response.status_code == 204 and response.content == b""
    # gone for the API at once, before the servers are
    assert_error(api.get(db_path("shop")), 404, "not_found")
    assert_error(api.get(branch_path("shop")), 404, "not_found")
    assert_error(api.get(f"{db_path('shop')}/branches"), 404, "not_found")
    assert list_all_names(api) == ["keep"]
    assert api.get(org_path()).json()["database_count"] == 1
    assert_error(api.delete(db_path("shop")), 404, "not_found")  # not twice

    wait_until(lambda: branch_id in fake.destroyed, what="the branch to be destroyed")
    assert branch_id not in fake.running
    assert fake.destroyed.count(branch_id) == 1


def test_deleted_name_can_be_reused_at_once(api: TestClient, fake: FakeProvisioner) -> None:
    old = ready_db(api, "shop")
    old_branch = get_branch(api, "shop")["id"]
    assert api.delete(db_path("shop")).status_code == 204
    response = api.post(
        f"{org_path()}/databases",
        json={"name": "shop", "cluster_size": "PS_20", "kind": "postgresql"},
    )  # before the old one's teardown has necessarily finished
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["id"] != old["id"] and new["kind"] == "postgresql"
    assert list_all_names(api) == ["shop"]

    wait_until(lambda: old_branch in fake.destroyed, what="the old branch to be destroyed")
    ready = wait_ready(api, "shop")
    assert ready["id"] == new["id"] and ready["kind"] == "postgresql"
    new_branch = get_branch(api, "shop")["id"]
    assert new_branch != old_branch
    assert new_branch in fake.running and new_branch not in fake.destroyed


def test_delete_of_a_failed_database(api: TestClient, fake: FakeProvisioner) -> None:
    """A database stuck after a permanent failure is still torn down when deleted
    (deletion does not wait for the failure's rare retry)."""
    fake.failures.append(PermanentFailure("broken"))
    create_db(api, "shop")
    branch_id = _failed_branch(api, "shop")["id"]
    assert api.delete(db_path("shop")).status_code == 204
    wait_until(lambda: branch_id in fake.destroyed, what="the failed branch to be destroyed")
    assert_error(api.get(db_path("shop")), 404, "not_found")


def test_deletion_protection(api: TestClient, fake: FakeProvisioner) -> None:
    ready_db(api, "shop")
    api.patch(db_path("shop"), json={"deletion_protected": True})
    assert_error(api.delete(db_path("shop")), 422, "unprocessable")
    assert api.get(db_path("shop")).status_code == 200
    api.patch(db_path("shop"), json={"deletion_protected": False})
    assert api.delete(db_path("shop")).status_code == 204


def test_credentials_are_applied_and_dropped(api: TestClient, fake: FakeProvisioner) -> None:
    ready_db(api, "shop")
    ready_db(api, "pg", "postgresql")
    shop_branch, pg_branch = get_branch(api, "shop")["id"], get_branch(api, "pg")["id"]
    pw = api.post(f"{branch_path('shop')}/passwords", json={"role": "reader"}).json()
    role = api.post(f"{branch_path('pg')}/roles", json={}).json()
    # create answers once the login exists on the (fake) server
    assert pw["username"] in fake.credentials[shop_branch]
    assert role["username"] in fake.credentials[pg_branch] and role["ready"] is True

    assert api.delete(f"{branch_path('shop')}/passwords/{pw['id']}").status_code == 204
    assert api.delete(f"{branch_path('pg')}/roles/{role['id']}").status_code == 204
    wait_until(
        lambda: (
            pw["username"] not in fake.credentials.get(shop_branch, {})
            and role["username"] not in fake.credentials.get(pg_branch, {})
        ),
        what="the logins to be dropped",
    )
    assert api.get(f"{branch_path('shop')}/passwords").json()["total_count"] == 0


def test_password_on_a_pending_branch_is_applied_once_ready(
    api: TestClient, fake: FakeProvisioner
) -> None:
    fake.failures.append(TemporaryFailure("slow start"))
    create_db(api, "shop")
    _failed_branch(api, "shop")
    response = api.post(f"{branch_path('shop')}/passwords", json={})
    assert response.status_code == 201, response.text  # answered without waiting
    username = response.json()["username"]
    wait_ready(api, "shop")
    branch_id = get_branch(api, "shop")["id"]
    wait_until(
        lambda: username in fake.credentials.get(branch_id, {}), what="the login to be applied"
    )


def test_a_vanished_server_sends_the_branch_back_to_pending(
    api: TestClient, fake: FakeProvisioner
) -> None:
    ready_db(api, "shop")
    branch_id = get_branch(api, "shop")["id"]
    fake.failures.append(TemporaryFailure("restarting"))
    fake.running.pop(branch_id)  # the health check finds it gone
    wait_until(lambda: not get_branch(api, "shop")["ready"], what="the branch to leave ready")
    wait_ready(api, "shop")
    assert branch_id in fake.running


def test_quiet_ready_branches_are_checked_without_an_attempt(
    api: TestClient, fake: FakeProvisioner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ready branch that needs nothing but its health check is checked (the provisioner is
    asked) without a full attempt; a problem found that way still gets one."""
    ready_db(api, "quiet")
    branch_id = get_branch(api, "quiet")["id"]
    reconciler = api.app.state.reconciler  # type: ignore[attr-defined]
    attempts: list[str] = []
    checks: list[str] = []
    real_run, real_problem = reconciler.branches.run, fake.problem

    def run(branch: str) -> None:
        attempts.append(branch)
        real_run(branch)

    def problem(plan: Any) -> str | None:
        checks.append(plan.branch_id)
        return real_problem(plan)

    monkeypatch.setattr(reconciler.branches, "run", run)
    monkeypatch.setattr(fake, "problem", problem)
    # wait out whatever the creation left to do (credentials, the first schema snapshot)
    wait_until(lambda: not reconciler._due()[0] or None, what="the branch to be quiet")
    attempts.clear()
    wait_until(lambda: checks.count(branch_id) >= 3 or None, what="three health checks")
    assert branch_id not in attempts

    # an old schema snapshot is read again the same way (here: made old by hand)
    fake.schemas[branch_id] = [
        {"name": "later", "raw": "CREATE TABLE later (id int)", "strict_unique_keys": []}
    ]
    store = api.app.state.store  # type: ignore[attr-defined]
    with store.tx() as s:
        s.execute(update(SchemaSnapshot).values(taken_at=utcnow() - timedelta(minutes=5)))

    def table_count() -> int | None:
        count = api.get(db_path("quiet")).json()["default_branch_table_count"]
        return count if count == 1 else None

    wait_until(table_count, what="the new snapshot")
    assert branch_id not in attempts

    fake.failures.append(TemporaryFailure("restarting"))
    fake.running.pop(branch_id)
    wait_until(lambda: not get_branch(api, "quiet")["ready"], what="the branch to leave ready")
    assert branch_id in attempts
    wait_ready(api, "quiet")
