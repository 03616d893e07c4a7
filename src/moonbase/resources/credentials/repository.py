from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moonbase.errors import NotFound
from moonbase.models import Credential, Instance


def page(
    session: Session, branch_id: str, kind: str, offset: int, limit: int
) -> tuple[list[Credential], int]:
    query = select(Credential).where(
        Credential.branch_id == branch_id,
        Credential.kind == kind,
        Credential.deleted_at.is_(None),
        Credential.is_default.is_(False),
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Credential.created_at, Credential.id).offset(offset).limit(limit)
    )
    return list(rows), total


def get(session: Session, branch_id: str, kind: str, credential_id: str) -> Credential:
    cred = session.get(Credential, credential_id)
    if cred is None or cred.branch_id != branch_id or cred.kind != kind or cred.deleted_at:
        raise NotFound(
            f"{'Password' if kind == 'password' else 'Role'} '{credential_id}' was not found"
        )
    return cred


def ports(session: Session, branch_id: str) -> list[int]:
    """Ports of the branch's servers, primary first."""
    return list(
        session.scalars(
            select(Instance.port).where(Instance.branch_id == branch_id).order_by(Instance.ordinal)
        )
    )
