"""MariaDB branches and guards against real servers: copy_schema, tables(), seed_replica,
safe migrations through privileges (Credential.ddl), client networks (Credential.cidrs)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pymysql
import pytest

from moonbase.engines.base import (
    SAFE_MIGRATIONS_MESSAGE,
    Credential,
    CredentialRole,
    Engine,
    EngineError,
    ServerRole,
    ServerSpec,
)
from moonbase.engines.mysql import MariaDBEngine

if TYPE_CHECKING:
    from conftest import Servers

USER = "pscale_api_ab12.k3j4h5g6f7d8"
PASSWORD = "pscale_pw_Tr0ub4dor&3-'quote'"
DB = "app_db"

RICH_SCHEMA = [
    """CREATE TABLE app_db.users (
        id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
        email varchar(191) NOT NULL,
        nick varchar(50) NULL,
        score int DEFAULT 0 CHECK (score >= 0),
        doc json,
        created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
        UNIQUE KEY users_email (email),
        UNIQUE KEY users_nick (nick),
        KEY users_created (created_at),
        FULLTEXT KEY users_nick_text (nick)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    """CREATE TABLE app_db.orders (
        id int NOT NULL AUTO_INCREMENT,
        user_id bigint NOT NULL,
        region char(2) NOT NULL,
        total decimal(10, 2) NOT NULL DEFAULT 0.00,
        PRIMARY KEY (id),
        UNIQUE KEY orders_user_region (user_id, region),
        CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES app_db.users (id)
            ON DELETE CASCADE,
        CONSTRAINT orders_total CHECK (total >= 0)
    ) ENGINE=InnoDB""",
    "CREATE TABLE app_db.legacy (code char(3) NOT NULL, name varchar(20)) "
    "ENGINE=MyISAM DEFAULT CHARSET=latin1",
    "CREATE VIEW app_db.big_orders AS SELECT id, total FROM app_db.orders WHERE total > 100",
    "CREATE TRIGGER app_db.orders_region BEFORE INSERT ON app_db.orders FOR EACH ROW "
    "SET NEW.region = UPPER(NEW.region)",
    "CREATE PROCEDURE app_db.add_order(IN uid bigint, IN amount decimal(10, 2)) "
    "SQL SECURITY DEFINER BEGIN INSERT INTO orders (user_id, region, total) "
    "VALUES (uid, 'eu', amount); END",
    "CREATE FUNCTION app_db.with_tax(amount decimal(10, 2)) RETURNS decimal(10, 2) "
    "DETERMINISTIC RETURN amount * 1.2",
    "CREATE EVENT app_db.cleanup ON SCHEDULE EVERY 1 DAY DO DELETE FROM app_db.orders "
    "WHERE total = 0",
    "INSERT INTO app_db.users (email, nick) VALUES ('a@x', 'ann'), ('b@x', NULL)",
    "INSERT INTO app_db.orders (user_id, region, total) VALUES (1, 'eu', 150), (2, 'us', 5)",
    "INSERT INTO app_db.legacy VALUES ('abc', 'old')",
]

#: the same queries on both servers: the schema as information_schema shows it
FINGERPRINT = [
    "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = 'app_db' ORDER BY 1",
    "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, COLUMN_TYPE, "
    "COLLATION_NAME, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'app_db' "
    "ORDER BY 1, 3",
    "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, INDEX_TYPE "
    "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'app_db' ORDER BY 1, 2, 4",
    "SELECT CONSTRAINT_NAME, TABLE_NAME, CONSTRAINT_TYPE FROM "
    "information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = 'app_db' ORDER BY 1, 2",
    "SELECT CONSTRAINT_NAME, TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
    "WHERE CONSTRAINT_SCHEMA = 'app_db' ORDER BY 1, 2",
    "SELECT CONSTRAINT_NAME, UNIQUE_CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE, "
    "REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS "
    "WHERE CONSTRAINT_SCHEMA = 'app_db' ORDER BY 1",
    "SELECT TABLE_NAME, VIEW_DEFINITION, SECURITY_TYPE FROM information_schema.VIEWS "
    "WHERE TABLE_SCHEMA = 'app_db' ORDER BY 1",
    "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_STATEMENT, "
    "ACTION_TIMING FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'app_db' ORDER BY 1",
    "SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION, SECURITY_TYPE, DTD_IDENTIFIER "
    "FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'app_db' ORDER BY 1",
    "SELECT EVENT_NAME, EVENT_DEFINITION, INTERVAL_VALUE, INTERVAL_FIELD FROM "
    "information_schema.EVENTS WHERE EVENT_SCHEMA = 'app_db' ORDER BY 1",
    "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
    "WHERE SCHEMA_NAME = 'app_db'",
]
ROW_COUNTS = (
    "SELECT (SELECT COUNT(*) FROM app_db.users), (SELECT COUNT(*) FROM app_db.orders), "
    "(SELECT COUNT(*) FROM app_db.legacy)"
)
DEFINERS = (
    "SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'app_db' UNION "
    "SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'app_db' UNION "
    "SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'app_db' UNION "
    "SELECT DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'app_db'"
)


def login(spec: ServerSpec, user: str, password: str, bind: str | None = None) -> Any:
    return pymysql.connect(
        host="127.0.0.1",
        port=spec.port,
        user=user,
        password=password,
        database=DB,
        autocommit=True,
        connect_timeout=5,
        ssl_disabled=True,
        bind_address=bind,
    )


def query(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def fingerprint(engine: Engine, spec: ServerSpec) -> list[list[tuple[object, ...]]]:
    return [engine.admin_query(spec, q) for q in FINGERPRINT]


def credential(
    engine: Engine, role: CredentialRole = CredentialRole.ADMIN, **kw: Any
) -> Credential:
    return Credential(USER, engine.make_verifier(USER, PASSWORD), role, **kw)


def test_copy_schema_copies_every_kind_of_object_and_no_rows(maria_servers: Servers):
    engine = maria_servers.engine
    source = maria_servers.primary("source")
    # objects defined by an API login of the parent, which the branch will not have
    engine.apply_credential(source, credential(engine))
    with login(source, USER, PASSWORD) as conn:
        for statement in RICH_SCHEMA:
            query(conn, statement)
    dest = maria_servers.primary("dest")

    started = time.monotonic()
    engine.copy_schema(source, dest)
    print(f"\ncopy_schema (MariaDB, rich schema): {time.monotonic() - started:.3f}s")

    assert fingerprint(engine, dest) == fingerprint(engine, source)
    assert engine.admin_query(source, ROW_COUNTS) == [(2, 2, 1)]
    assert engine.admin_query(dest, ROW_COUNTS) == [(0, 0, 0)]
    assert engine.admin_query(source, DEFINERS) == [(f"{USER}@%",)]
    assert engine.admin_query(dest, DEFINERS) == [("moonbase_definer@localhost",)]
    # a new branch counts from the start
    ddl = engine.admin_query(dest, "SHOW CREATE TABLE app_db.users")[0][1]
    assert "AUTO_INCREMENT=" not in str(ddl)
    assert [(t.name, t.raw) for t in engine.tables(dest)] == [
        (t.name, t.raw) for t in engine.tables(source)
    ]

    # the copied objects work, and run with the definer's (database-only) authority
    engine.apply_credential(dest, credential(engine))
    with login(dest, USER, PASSWORD) as conn:
        query(conn, "INSERT INTO users (email) VALUES ('c@x')")
        query(conn, "CALL add_order(1, 200)")
        assert query(conn, "SELECT id, region FROM orders") == [(1, "EU")]
        assert query(conn, "SELECT id FROM big_orders") == [(1,)]
        assert query(conn, "SELECT with_tax(10)") == [(12,)]
        with pytest.raises(pymysql.err.OperationalError, match="CONSTRAINT"):
            query(conn, "INSERT INTO orders (user_id, region, total) VALUES (1, 'eu', -1)")
    accounts = engine.admin_query(
        dest,
        "SELECT User, Host, JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv "
        "WHERE User = 'moonbase_definer'",
    )
    assert accounts in (
        [("moonbase_definer", "localhost", "true")],
        [("moonbase_definer", "localhost", "1")],
    )
    grants = " ".join(
        str(r[0]) for r in engine.admin_query(dest, "SHOW GRANTS FOR moonbase_definer@localhost")
    )
    assert "ON `app\\_db`.*" in grants and "ON *.* TO" in grants and "SUPER" not in grants

    engine.copy_schema(source, dest)  # done: a retry changes nothing
    assert engine.admin_query(dest, "SELECT COUNT(*) FROM app_db.users") == [(1,)]


def test_copy_schema_retry_after_a_partial_load(maria_servers: Servers):
    engine = maria_servers.engine
    source = maria_servers.primary("source")
    for statement in RICH_SCHEMA:
        engine.admin_query(source, statement)
    dest = maria_servers.primary("dest")
    engine.admin_query(dest, "CREATE TABLE app_db.users (id int)")  # a crash left this behind
    engine.copy_schema(source, dest)
    assert fingerprint(engine, dest) == fingerprint(engine, source)

    # a view on another database the branch does not have: no retry can fix that
    engine.admin_query(source, "CREATE DATABASE elsewhere")
    engine.admin_query(source, "CREATE TABLE elsewhere.t (id int)")
    engine.admin_query(source, "CREATE VIEW app_db.outside AS SELECT id FROM elsewhere.t")
    broken = maria_servers.primary("broken")
    with pytest.raises(EngineError, match="ERROR 1146") as failed:
        engine.copy_schema(source, broken)
    assert failed.value.permanent

    occupied = maria_servers.primary("occupied")
    engine.admin_query(occupied, "CREATE TABLE app_db.precious (id int)")
    engine.admin_query(occupied, "INSERT INTO app_db.precious VALUES (1)")
    with pytest.raises(EngineError, match="already holds data") as refused:
        engine.copy_schema(source, occupied)
    assert refused.value.permanent
    assert engine.admin_query(occupied, "SELECT id FROM app_db.precious") == [(1,)]


def test_tables_describes_keys_and_statements(maria_servers: Servers):
    engine = maria_servers.engine
    spec = maria_servers.primary()
    for statement in RICH_SCHEMA:
        engine.admin_query(spec, statement)
    found = {t.name: t for t in engine.tables(spec)}
    assert set(found) == {"users", "orders", "legacy"}  # views are not tables
    users = found["users"]
    assert users.namespace == "" and users.engine == "InnoDB" and users.charset == "utf8mb4"
    assert users.columns[:3] == (
        ("id", "bigint(20)", False),
        ("email", "varchar(191)", False),
        ("nick", "varchar(50)", True),
    )
    assert users.unique_keys == (("id",), ("email",), ("nick",))
    assert users.strict_unique_keys == (("id",), ("email",))
    assert users.raw.startswith("CREATE TABLE `users` (")
    assert "FULLTEXT KEY `users_nick_text` (`nick`)" in users.raw
    assert "AUTO_INCREMENT=" not in users.raw
    orders = found["orders"]
    assert orders.strict_unique_keys == (("id",), ("user_id", "region"))
    assert "CONSTRAINT `orders_user` FOREIGN KEY (`user_id`) REFERENCES `users`" in orders.raw
    legacy = found["legacy"]
    assert (legacy.engine, legacy.charset, legacy.unique_keys) == ("MyISAM", "latin1", ())


def test_a_thousand_tables(maria_servers: Servers):
    engine = maria_servers.engine
    source = maria_servers.primary("source")
    count = 1000
    statements = [
        f"CREATE TABLE app_db.t{i:04d} (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, "
        f"code varchar(20) NOT NULL UNIQUE, qty int NOT NULL DEFAULT 0 CHECK (qty >= 0), "
        f"created_at timestamp NULL, KEY (created_at))"
        for i in range(count)
    ]
    assert isinstance(engine, MariaDBEngine)
    with engine.admin_connection(source) as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL innodb_flush_log_at_trx_commit = 0")  # a test: speed over safety
        for statement in statements:
            cur.execute(statement)
    started = time.monotonic()
    described = engine.tables(source)
    took = time.monotonic() - started
    print(f"\ntables() for {count} MariaDB tables: {took:.3f}s")
    assert len(described) == count
    assert described[7].strict_unique_keys == (("id",), ("code",))


# --- safe migrations (privileges) -----------------------------------------------------------


def test_safe_migrations_withhold_ddl_privileges(maria_servers: Servers):
    engine = maria_servers.engine
    spec = maria_servers.primary()
    engine.admin_query(spec, "CREATE TABLE app_db.t (id int PRIMARY KEY, name text)")
    engine.set_safe_migrations(spec, True)
    engine.set_safe_migrations(spec, True)  # idempotent
    engine.apply_credential(spec, credential(engine, ddl=False))
    engine.apply_credential(spec, credential(engine, ddl=False))  # idempotent

    def refusal(conn: Any, sql: str) -> str | None:
        try:
            query(conn, sql)
        except pymysql.err.OperationalError as exc:
            assert exc.args[0] in (1142, 1044, 1370), exc  # command denied
            return str(exc.args[1])
        return None

    with login(spec, USER, PASSWORD) as conn:
        for statement in (
            "ALTER TABLE t ADD COLUMN extra int",
            "CREATE TABLE t2 (id int)",
            "DROP TABLE t",
            "TRUNCATE t",
            "RENAME TABLE t TO t_renamed",
            "CREATE INDEX t_name ON t (name(10))",
            "CREATE VIEW v AS SELECT 1",
            "CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW SET NEW.id = NEW.id",
            "CREATE PROCEDURE pr() SELECT 1",
        ):
            message = refusal(conn, statement)
            assert message is not None, statement
            assert SAFE_MIGRATIONS_MESSAGE in message, (statement, message)
        query(conn, "INSERT INTO t VALUES (1, 'a')")
        query(conn, "UPDATE t SET name = 'b'")
        assert query(conn, "SELECT id, name FROM t") == [(1, "b")]
        query(conn, "DELETE FROM t")
        query(conn, "CREATE TEMPORARY TABLE scratch (x int)")  # not schema: still allowed

    # the wording survives a restart of the server
    engine.stop(spec)
    engine.configure(spec)
    engine.start(spec)
    engine.wait_ready(spec, 60)
    with login(spec, USER, PASSWORD) as conn:
        message = refusal(conn, "ALTER TABLE t ADD COLUMN extra int")
        assert message is not None and SAFE_MIGRATIONS_MESSAGE in message, message

    engine.set_safe_migrations(spec, False)
    engine.apply_credential(spec, credential(engine, ddl=True))
    with login(spec, USER, PASSWORD) as conn:
        query(conn, "ALTER TABLE t ADD COLUMN extra int")
        query(conn, "TRUNCATE t")
        # MariaDB's own refusals are back to its plain words
        message = refusal(conn, "CREATE TABLE mysql.not_yours (id int)")
        assert message is not None and "command denied" in message, message
        assert "safe migrations" not in message
    grants = " ".join(str(r[0]) for r in engine.admin_query(spec, f"SHOW GRANTS FOR '{USER}'@'%'"))
    assert "ALL PRIVILEGES ON `app\\_db`.*" in grants and "GRANT OPTION" not in grants


# --- client networks ------------------------------------------------------------------------


def can_login(spec: ServerSpec, source: str) -> bool:
    try:
        with login(spec, USER, PASSWORD, bind=source) as conn:
            return query(conn, "SELECT 1") == [(1,)]
    except pymysql.err.OperationalError as exc:
        # 1130 "host is not allowed" when no account matches the address at all, else 1045
        assert exc.args[0] in (1130, 1045), exc
        return False


def hosts(engine: Engine, spec: ServerSpec) -> list[tuple[object, ...]]:
    return engine.admin_query(
        spec, f"SELECT Host FROM mysql.global_priv WHERE User = '{USER}' ORDER BY Host"
    )


def test_cidrs_make_one_account_per_network(maria_servers: Servers):
    engine = maria_servers.engine
    spec = maria_servers.primary()
    engine.admin_query(spec, "CREATE TABLE app_db.t (id int)")
    engine.apply_credential(spec, credential(engine, CredentialRole.READER))
    assert can_login(spec, "127.0.0.2")
    anywhere = login(spec, USER, PASSWORD, bind="127.0.0.2")

    restricted = credential(engine, CredentialRole.READER, cidrs=("127.0.0.1/32", "10.1.2.3/8"))
    engine.apply_credential(spec, restricted)
    engine.apply_credential(spec, restricted)  # idempotent
    assert hosts(engine, spec) == [("10.0.0.0/255.0.0.0",), ("127.0.0.1/255.255.255.255",)]
    for host in ("127.0.0.1/255.255.255.255", "10.0.0.0/255.0.0.0"):
        grants = " ".join(
            str(r[0]) for r in engine.admin_query(spec, f"SHOW GRANTS FOR '{USER}'@'{host}'")
        )
        assert "GRANT SELECT, SHOW VIEW ON `app\\_db`.*" in grants
    with pytest.raises(pymysql.err.OperationalError):
        query(anywhere, "SELECT 1")  # the session of the dropped '%' account was ended
    assert can_login(spec, "127.0.0.1")
    assert not can_login(spec, "127.0.0.2")

    engine.apply_credential(
        spec, credential(engine, CredentialRole.READER, cidrs=("127.0.0.0/30",))
    )
    assert hosts(engine, spec) == [("127.0.0.0/255.255.255.252",)]
    assert can_login(spec, "127.0.0.2") and not can_login(spec, "127.0.0.9")

    with pytest.raises(EngineError) as ipv6:
        engine.apply_credential(spec, credential(engine, cidrs=("::1/128",)))
    assert ipv6.value.permanent

    engine.drop_credential(spec, USER)  # every host variant
    assert hosts(engine, spec) == []
    engine.drop_credential(spec, USER)


def test_seed_replica_for_a_primary_that_holds_data(maria_servers: Servers):
    """A replica added later replays the primary's whole binlog from a pristine folder."""
    engine = maria_servers.engine
    primary = maria_servers.primary()
    engine.admin_query(primary, "CREATE TABLE app_db.moons (id int PRIMARY KEY, name text)")
    engine.admin_query(primary, "INSERT INTO app_db.moons VALUES (1, 'Io'), (2, 'Europa')")
    engine.admin_query(primary, "FLUSH BINARY LOGS")  # the history spans several binlog files
    engine.admin_query(primary, "INSERT INTO app_db.moons VALUES (3, 'Ganymede')")

    replica = maria_servers.spec("replica2", role=ServerRole.REPLICA, server_id=2, primary=primary)
    started = time.monotonic()
    engine.seed_replica(primary, replica)
    print(f"\nseed_replica on MariaDB: {time.monotonic() - started:.3f}s")
    engine.seed_replica(primary, replica)  # idempotent
    maria_servers.create(replica)

    def replayed() -> bool:
        try:
            return engine.admin_query(replica, "SELECT COUNT(*) FROM app_db.moons") == [(3,)]
        except EngineError:  # the table is not there yet
            return False

    maria_servers.wait_until(replayed, what="rows on the new replica")
    assert engine.replica_status(replica).streaming
    accounts = engine.admin_query(replica, "SELECT User, Host FROM mysql.global_priv ORDER BY 1")
    assert ("root", "127.0.0.1") not in accounts  # as clean as a template copy
