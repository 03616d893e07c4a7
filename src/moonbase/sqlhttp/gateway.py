"""Sessions of the HTTP SQL API and the MariaDB connections behind them.

A client session (the driver's opaque ``session``, handed back with every call) does not hold a
connection between calls unless it must, as Vitess does it: after each statement the
connection goes back to a small idle pool of its login, except when it is inside a transaction
(``BEGIN`` ... ``COMMIT``) or the session has changed connection state (``SET``, ``USE``,
temporary tables, locks), in which case the session keeps it ("reserved") for its next calls.
So ``Client.execute`` (a new session per call) reuses a few connections, and a transaction
spread over several HTTP calls runs on one connection.

A reaper closes what is left alone: idle pooled connections after ``idle_timeout``, a session
that sits in an open transaction after ``transaction_timeout`` (closing the connection rolls
the transaction back, as PlanetScale's 20-second transaction limit does), any other session
after ``session_timeout``. A pooled connection the server dropped (the login was deleted, the
server restarted) is replaced once, transparently, when no session state depended on it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymysql  # type: ignore[import-untyped]  # no stubs are pinned
from pymysql.constants import SERVER_STATUS  # type: ignore[import-untyped]

from moonbase.sqlhttp import wire

log = logging.getLogger(__name__)

Conn = Any  # pymysql.connections.Connection
#: statements after which a session keeps its connection (its state lives in it)
_RESERVING = re.compile(
    r"^\s*(SET\s|USE\s|CREATE\s+TEMPORARY\s|LOCK\s|GET_LOCK|SELECT\s.*\bGET_LOCK\s*\(|PREPARE\s)",
    re.IGNORECASE | re.DOTALL,
)
_LOST = (2006, 2013, 2055)  # gone away, lost during query, lost at handshake


@dataclass(frozen=True)
class Target:
    """Where and as whom a login's statements run."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str

    @property
    def login(self) -> tuple[str, int, str]:
        return (self.host, self.port, self.user)


@dataclass
class _Session:
    id: str
    credential_id: str
    conn: Conn | None = None
    reserved: bool = False
    used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Outcome:
    session_id: str
    result: dict[str, Any] | None
    error: dict[str, str] | None
    seconds: float
    #: the session holds an open transaction (the client hands this back with the session)
    in_transaction: bool = False


_ENDS_TRANSACTION = re.compile(r"^\s*ROLLBACK\b", re.IGNORECASE)
#: what a statement meets when its session's transaction is no longer there
LOST_TRANSACTION = {
    "code": "ABORTED",
    "message": "the transaction was rolled back: it was left idle longer than the "
    "transaction timeout, or Moonbase restarted; start it again",
}


class Gateway:
    def __init__(
        self,
        *,
        idle_timeout: float = 60.0,
        transaction_timeout: float = 20.0,
        session_timeout: float = 300.0,
        idle_per_login: int = 4,
        connect_timeout: int = 5,
        connect: Callable[[Target], Conn] | None = None,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.transaction_timeout = transaction_timeout
        self.session_timeout = session_timeout
        self.idle_per_login = idle_per_login
        self.connect_timeout = connect_timeout
        self._connect = connect or self._open
        self._sessions: dict[str, _Session] = {}
        self._idle: dict[tuple[str, int, str], list[tuple[float, Conn]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- running ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._reap_loop, name="moonbase-sql", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            conns = [s.conn for s in self._sessions.values() if s.conn is not None]
            conns += [c for pool in self._idle.values() for _, c in pool]
            self._sessions.clear()
            self._idle.clear()
        for conn in conns:
            _close(conn)

    def counts(self) -> tuple[int, int]:
        """(sessions kept, each holding a connection; idle pooled connections): for tests."""
        with self._lock:
            return len(self._sessions), sum(len(pool) for pool in self._idle.values())

    # --- one call ---------------------------------------------------------------------
    def new_session(self, credential_id: str) -> str:
        """A fresh session id. Nothing is kept for it until it holds a connection: a session
        without one has no state, and the driver's ``Client`` starts one per call."""
        return _Session(secrets.token_urlsafe(24), credential_id).id

    def execute(
        self,
        session_id: str | None,
        credential_id: str,
        target: Target,
        query: str,
        in_transaction: bool = False,
    ) -> Outcome:
        """Run ``query`` in the session. ``in_transaction``: the client last saw its session
        inside a transaction; if that transaction is gone (timed out, or this process is not
        the one that had it) the statement is refused rather than run outside it, so a COMMIT
        never reports success for work that was rolled back. A ROLLBACK is let through."""
        session = self._session(session_id, credential_id)
        with session.lock:
            started = time.monotonic()
            holds = session.conn is not None and _in_transaction(session.conn)
            result: dict[str, Any] | None = None
            error: dict[str, str] | None = dict(LOST_TRANSACTION)
            if not in_transaction or holds or _ENDS_TRANSACTION.match(query):
                result, error = self._run(session, target, query)
            session.used = time.monotonic()
            held = session.conn is not None and _in_transaction(session.conn)
            with self._lock:  # kept while it holds a connection, forgotten once it does not
                if session.conn is not None:
                    self._sessions[session.id] = session
                else:
                    self._sessions.pop(session.id, None)
            return Outcome(session.id, result, error, session.used - started, held)

    def _session(self, session_id: str | None, credential_id: str) -> _Session:
        with self._lock:
            found = self._sessions.get(session_id) if session_id else None
            if found is not None and found.credential_id == credential_id:
                return found
        # unknown, expired or another login's: a fresh session (its state is gone)
        return _Session(secrets.token_urlsafe(24), credential_id)

    def _run(
        self, session: _Session, target: Target, query: str
    ) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
        pinned = session.conn is not None
        conn = session.conn or self._take_idle(target)
        fresh = conn is None
        try:
            if conn is None:
                conn = self._connect(target)
            try:
                result = _statement(conn, query)
            except pymysql.err.OperationalError as exc:
                if pinned or fresh or exc.args[0] not in _LOST:
                    raise
                _close(conn)  # a pooled connection the server had closed: once more, anew
                conn = self._connect(target)
                result = _statement(conn, query)
            error = None
        except pymysql.err.MySQLError as exc:
            errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 2000
            message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
            result, error = None, wire.error_json(errno, message)
            if conn is not None and errno in _LOST:
                _close(conn)
                conn = None
        session.reserved = session.reserved or bool(_RESERVING.match(query))
        if conn is None:
            session.conn = None
        elif session.reserved or _in_transaction(conn):
            session.conn = conn
        else:
            session.conn = None
            self._give_back(target, conn)
        return result, error

    # --- connections ------------------------------------------------------------------
    def _open(self, target: Target) -> Conn:
        return pymysql.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            database=target.database,
            charset="utf8mb4",
            use_unicode=False,  # values as the server's bytes, which the driver decodes
            conv={},
            autocommit=True,
            connect_timeout=self.connect_timeout,
            ssl_disabled=True,
        )

    def _take_idle(self, target: Target) -> Conn | None:
        with self._lock:
            pool = self._idle.get(target.login)
            return pool.pop()[1] if pool else None

    def _give_back(self, target: Target, conn: Conn) -> None:
        with self._lock:
            pool = self._idle.setdefault(target.login, [])
            if len(pool) < self.idle_per_login:
                pool.append((time.monotonic(), conn))
                return
        _close(conn)

    def forget_login(self, host: str, port: int, user: str) -> None:
        """Close the pooled connections of a login (e.g. its credential was deleted)."""
        with self._lock:
            pool = self._idle.pop((host, port, user), [])
        for _, conn in pool:
            _close(conn)

    # --- reaping ----------------------------------------------------------------------
    def _reap_loop(self) -> None:
        while not self._stop.wait(min(5.0, self.idle_timeout / 2)):
            try:
                self.reap()
            except Exception:  # noqa: BLE001 - the reaper must keep going
                log.exception("reaping SQL sessions failed")

    def reap(self) -> None:
        now = time.monotonic()
        closing: list[Conn] = []
        with self._lock:
            for login, pool in list(self._idle.items()):
                keep = [(t, c) for t, c in pool if now - t < self.idle_timeout]
                closing += [c for t, c in pool if now - t >= self.idle_timeout]
                if keep:
                    self._idle[login] = keep
                else:
                    del self._idle[login]
            for session_id, session in list(self._sessions.items()):
                if session.lock.locked():
                    continue  # a statement is running
                idle = now - session.used
                in_tx = session.conn is not None and _in_transaction(session.conn)
                limit = self.transaction_timeout if in_tx else self.session_timeout
                if idle >= limit:
                    del self._sessions[session_id]
                    if session.conn is not None:
                        # a call that fetched the session just now finds it empty (and, if
                        # its client was in the transaction, is told the transaction is lost)
                        closing.append(session.conn)
                        session.conn = None
        for conn in closing:
            _close(conn)


def _statement(conn: Conn, query: str) -> dict[str, Any]:
    with conn.cursor() as cur:
        cur.execute(query)
        fields = cur._result.fields if cur.description is not None else None  # noqa: SLF001
        rows = cur.fetchall() if fields is not None else ()
        return wire.result_json(fields, rows, max(cur.rowcount, 0), cur.lastrowid or 0)


def _in_transaction(conn: Conn) -> bool:
    return bool(conn.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)


def _close(conn: Conn) -> None:
    with contextlib.suppress(Exception):  # closing what may already be broken
        conn.close()
