"""Helpers of the audit log tests: reading the log through the API and the store."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from moonbase.models import AuditLog

from api_support import org_path, store
from contract import assert_matches_spec


def audit_page(client: TestClient, **params: Any) -> dict[str, Any]:
    """One page of the audit log, held to the spec."""
    response = client.get(f"{org_path()}/audit-log", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_matches_spec("list_audit_logs", 200, body)
    return body


def audit_entries(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    return audit_page(client, limit=100, **params)["data"]  # type: ignore[no-any-return]


def stored_count(app: FastAPI) -> int:
    """Entries in the store, visible or not."""
    with store(app).tx() as s:
        return s.scalar(select(func.count()).select_from(AuditLog)) or 0


def backdate(app: FastAPI, ids: list[str], **delta: float) -> None:
    """Move entries into the past (``days=31``)."""
    from datetime import timedelta

    with store(app).tx() as s:
        for entry_id in ids:
            entry = s.get(AuditLog, entry_id)
            assert entry is not None, entry_id
            s.execute(
                update(AuditLog)
                .where(AuditLog.id == entry_id)
                .values(created_at=entry.created_at - timedelta(**delta))
            )


def update_org(client: TestClient, n: int) -> None:
    """A cheap change: one audit entry each (no servers involved)."""
    response = client.patch(org_path(), json={"billing_email": f"billing{n}@example.com"})
    assert response.status_code == 200, response.text
