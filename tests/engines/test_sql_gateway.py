"""The HTTP SQL API's sessions against a real MariaDB server: pooled connections are reused,
transactions and session state keep theirs, abandoned ones are closed (rolling back), and a
pooled connection the server dropped is replaced without the caller noticing."""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

from moonbase.engines.base import ServerSpec
from moonbase.sqlhttp.gateway import Gateway, Outcome, Target

if TYPE_CHECKING:
    from conftest import Servers

USER, PASSWORD, DB = "gw_user", "gw-secret", "app_db"


def first_value(outcome: Outcome) -> bytes:
    assert outcome.error is None and outcome.result is not None, outcome
    row = outcome.result["rows"][0]
    return base64.b64decode(row["values"])[: int(row["lengths"][0])]


def server(maria_servers: Servers) -> tuple[Any, ServerSpec, Target]:
    engine, spec = maria_servers.engine, maria_servers.primary()
    engine.admin_query(spec, "CREATE TABLE app_db.t (id int PRIMARY KEY)")
    engine.admin_query(spec, f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
    engine.admin_query(spec, f"GRANT ALL ON app_db.* TO '{USER}'@'%'")
    return engine, spec, Target("127.0.0.1", spec.port, USER, PASSWORD, DB)


def test_sessions_share_pooled_connections_and_keep_their_own(maria_servers: Servers) -> None:
    _engine, _spec, target = server(maria_servers)
    gateway = Gateway()
    try:
        first = gateway.execute(None, "cred", target, "SELECT CONNECTION_ID()")
        second = gateway.execute(None, "cred", target, "SELECT CONNECTION_ID()")
        assert first.session_id != second.session_id
        assert first_value(first) == first_value(second)  # the same pooled connection
        for _ in range(20):  # the driver's Client: a new session per call, nothing kept
            gateway.execute(None, "cred", target, "SELECT 1")
        assert gateway.counts() == (0, 1)

        begun = gateway.execute(None, "cred", target, "BEGIN")
        assert gateway.counts() == (1, 0)  # the transaction holds it
        gateway.execute(begun.session_id, "cred", target, "INSERT INTO t VALUES (1)")
        other = gateway.execute(None, "cred", target, "SELECT count(*) FROM t")
        assert first_value(other) == b"0"  # not committed yet: another connection
        gateway.execute(begun.session_id, "cred", target, "COMMIT")
        assert gateway.counts() == (0, 2)
        assert first_value(gateway.execute(None, "cred", target, "SELECT count(*) FROM t")) == b"1"

        # SET makes the session keep its connection (its state lives there)
        mine = gateway.execute(None, "cred", target, "SET @x = 41")
        again = gateway.execute(mine.session_id, "cred", target, "SELECT @x + 1")
        assert first_value(again) == b"42"
        # another login cannot borrow the session: it gets a fresh one
        stolen = gateway.execute(mine.session_id, "other", target, "SELECT @x")
        assert stolen.session_id != mine.session_id
        assert stolen.result is not None and stolen.result["rows"][0]["lengths"] == ["-1"]
    finally:
        gateway.stop()
    assert gateway.counts() == (0, 0)


def test_abandoned_transactions_are_rolled_back_and_idle_connections_closed(
    maria_servers: Servers,
) -> None:
    engine, spec, target = server(maria_servers)
    gateway = Gateway(transaction_timeout=0.2, idle_timeout=0.2, session_timeout=0.2)
    try:
        begun = gateway.execute(None, "cred", target, "BEGIN")
        gateway.execute(begun.session_id, "cred", target, "INSERT INTO t VALUES (7)")
        gateway.execute(None, "cred", target, "SELECT 1")  # a pooled one beside it
        assert gateway.counts() == (1, 1)
        time.sleep(0.3)
        gateway.reap()
        assert gateway.counts() == (0, 0)

        def logins() -> int:
            rows = engine.admin_query(
                spec, f"SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = '{USER}'"
            )
            return int(str(rows[0][0]))

        deadline = time.monotonic() + 10
        while logins() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert logins() == 0
        assert engine.admin_query(spec, "SELECT count(*) FROM app_db.t")[0][0] == 0  # rolled back
        # the client still believes in its transaction: COMMIT must not pretend to succeed
        assert begun.in_transaction
        commit = gateway.execute(begun.session_id, "cred", target, "COMMIT", in_transaction=True)
        assert commit.error is not None and commit.error["code"] == "ABORTED"
        assert commit.session_id != begun.session_id and not commit.in_transaction
        # ... while ROLLBACK (what the driver sends after an error) goes through
        rollback = gateway.execute(
            begun.session_id, "cred", target, "ROLLBACK", in_transaction=True
        )
        assert rollback.error is None
        # a session the gateway no longer knows, outside a transaction: a fresh one
        fresh = gateway.execute(begun.session_id, "cred", target, "SELECT 1")
        assert fresh.session_id != begun.session_id and fresh.error is None
    finally:
        gateway.stop()


def test_a_dropped_pooled_connection_is_replaced_quietly(maria_servers: Servers) -> None:
    engine, spec, target = server(maria_servers)
    gateway = Gateway()
    try:
        pooled = first_value(gateway.execute(None, "cred", target, "SELECT CONNECTION_ID()"))
        engine.admin_query(spec, f"KILL {pooled.decode()}")
        after = gateway.execute(None, "cred", target, "SELECT CONNECTION_ID()")
        assert after.error is None and first_value(after) != pooled

        # inside a transaction the loss is the caller's to see (its work is gone)
        begun = gateway.execute(None, "cred", target, "BEGIN")
        held = first_value(
            gateway.execute(begun.session_id, "cred", target, "SELECT CONNECTION_ID()")
        )
        engine.admin_query(spec, f"KILL {held.decode()}")
        lost = gateway.execute(begun.session_id, "cred", target, "SELECT 1")
        assert lost.error is not None and lost.error["code"] == "UNAVAILABLE"

        wrong = Target(target.host, target.port, USER, "not-it", DB)
        refused = gateway.execute(None, "cred", wrong, "SELECT 1")
        assert refused.error is not None and refused.error["code"] == "PERMISSION_DENIED"
    finally:
        gateway.stop()
