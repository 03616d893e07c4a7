"""``POST /psdb.v1alpha1.Database/Execute`` and ``/CreateSession``: PlanetScale's HTTP SQL API,
which the serverless driver ``@planetscale/database`` speaks, on Moonbase's own address.

Authentication is a branch password, as HTTP Basic (``username:password``); the username says
which branch (and, for a ``replica`` password, that a replica answers). The password is checked
against the hash Moonbase keeps (the server's own ``mysql_native_password`` hash), its expiry
and its networks (``cidrs``, against the HTTP client's address: the connection to MariaDB comes
from Moonbase itself). Failures answer in the Connect protocol's error shape, which is also
PlanetScale's API error shape: ``401 {"code": "unauthenticated", "message": ...}``, with the
same as Vitess's ``error`` object beside them (``{"code": "UNAUTHENTICATED", ...}``, which the
driver turns into a ``DatabaseError``). SQL errors answer 200 with an ``error`` beside the
session, as Vitess does. MySQL branches only.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update

from moonbase.engines.mysql_accounts import loopback_for, native_password_hash
from moonbase.ids import utcnow
from moonbase.models import Branch, BranchState, Credential, Database, Instance
from moonbase.settings import Settings
from moonbase.sqlhttp.gateway import Gateway, Target
from moonbase.store.db import Store

router = APIRouter(prefix="/psdb.v1alpha1.Database", include_in_schema=False)

#: ``last_used_at`` of a password is written at most this often
LAST_USED_EVERY = timedelta(minutes=1)


class Call(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str = ""
    session: Any = None


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="moonbase"'} if self.status == 401 else None
        # the API's error shape, plus Vitess's ``error`` (what the driver reads from a refusal)
        body = {
            "code": self.code,
            "message": self.message,
            "error": {"code": self.code.upper(), "message": self.message},
        }
        return JSONResponse(body, status_code=self.status, headers=headers)


def _basic(header: str | None) -> tuple[str, str]:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Refusal(401, "unauthenticated", "a branch password is required (HTTP Basic)")
    try:
        username, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        username, sep, password = "", "", ""
    if not sep or not username:
        raise Refusal(401, "unauthenticated", "malformed HTTP Basic credentials")
    return username, password


def _allowed(cidrs: list[str] | None, address: str | None) -> bool:
    if not cidrs:
        return True
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(c, strict=False) for c in cidrs)


@dataclass(frozen=True)
class Login:
    credential_id: str
    branch_id: str
    target: Target


def _target(request: Request) -> Login:
    """The credential, its branch and where its statements run; Refusal when it may not."""
    store: Store = request.app.state.store
    settings: Settings = request.app.state.settings
    username, password = _basic(request.headers.get("authorization"))
    refused = Refusal(401, "unauthenticated", "Access denied: unknown user or wrong password")
    now = utcnow()
    with store.tx() as s:
        # one query for the password, its branch and its database (this runs on every call)
        found = s.execute(
            select(Credential, Branch, Database)
            .join(Branch, Branch.id == Credential.branch_id)
            .join(Database, Database.id == Branch.database_id)
            .where(
                Credential.username == username,
                Credential.kind == "password",
                Credential.deleted_at.is_(None),
            )
        ).first()
        if found is None:
            raise refused
        cred, branch, db = found
        if not hmac.compare_digest(cred.verifier.encode(), native_password_hash(password).encode()):
            raise refused
        if cred.expires_at is not None and cred.expires_at <= now:
            raise Refusal(401, "unauthenticated", "Access denied: the password has expired")
        client = request.client.host if request.client else None
        if not _allowed(cred.cidrs, client):
            raise Refusal(401, "unauthenticated", f"Access denied: not allowed from {client}")
        if db.kind != "mysql":
            raise Refusal(400, "failed_precondition", "the HTTP SQL API serves MySQL branches")
        ports = list(
            s.scalars(
                select(Instance.port)
                .where(Instance.branch_id == branch.id)
                .order_by(Instance.ordinal)
            )
        )
        if branch.state != BranchState.READY or cred.applied_at is None or not ports:
            raise Refusal(503, "unavailable", "the branch is not ready yet; try again shortly")
        if cred.last_used_at is None or now - cred.last_used_at >= LAST_USED_EVERY:
            s.execute(
                update(Credential)
                .where(Credential.id == cred.id)
                .values(last_used_at=now, updated_at=Credential.updated_at)
            )
        port = ports[1] if cred.replica and len(ports) > 1 else ports[0]
        host = loopback_for(settings.server_bind)
        target = Target(host, port, username, password, db.schema_name)
        return Login(cred.id, branch.id, target)


def _session_id(session: Any) -> str | None:
    found = session.get("id") if isinstance(session, dict) else None
    return found if isinstance(found, str) else None


def _session_json(session_id: str, in_transaction: bool = False) -> dict[str, Any]:
    """The opaque session the driver hands back: its id, and whether it was inside a
    transaction (so a transaction lost meanwhile is noticed, see ``Gateway.execute``)."""
    return {"id": session_id, "inTransaction": in_transaction}


#: statements after which the branch's schema snapshot is read again at once
_SCHEMA_CHANGE = re.compile(r"^\s*(CREATE|ALTER|DROP|RENAME)\s", re.IGNORECASE)


def _schema_changed(request: Request, branch_id: str) -> None:
    """Ask the reconciler for a new schema snapshot (``schema_last_updated_at``, table counts,
    the dashboard), instead of leaving it to the once-a-minute refresh."""
    store: Store = request.app.state.store
    with store.tx() as s:
        s.execute(
            update(Branch)
            .where(Branch.id == branch_id)
            .values(schema_refresh_requested_at=utcnow(), updated_at=Branch.updated_at)
        )
    request.app.state.notifier.wake()


@router.post("/Execute")
def execute(request: Request, call: Call) -> JSONResponse:
    gateway: Gateway = request.app.state.sql_gateway
    try:
        login = _target(request)
    except Refusal as refusal:
        return refusal.response()
    if not call.query.strip():
        return Refusal(400, "invalid_argument", "the query is empty").response()
    in_transaction = isinstance(call.session, dict) and call.session.get("inTransaction") is True
    outcome = gateway.execute(
        _session_id(call.session), login.credential_id, login.target, call.query, in_transaction
    )
    if outcome.error is None and _SCHEMA_CHANGE.match(call.query):
        _schema_changed(request, login.branch_id)
    body: dict[str, Any] = {
        "session": _session_json(outcome.session_id, outcome.in_transaction),
        "timing": outcome.seconds,
    }
    if outcome.error is not None:
        body["error"] = outcome.error
    else:
        body["result"] = outcome.result
    return JSONResponse(body)


@router.post("/CreateSession")
def create_session(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.sql_gateway
    try:
        login = _target(request)
    except Refusal as refusal:
        return refusal.response()
    target = login.target
    session_id = gateway.new_session(login.credential_id)
    return JSONResponse(
        {
            "session": _session_json(session_id),
            "branch": target.database,
            "user": {"username": target.user},
        }
    )
