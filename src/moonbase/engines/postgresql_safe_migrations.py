"""Safe migrations on PostgreSQL: the server itself refuses DDL from every login but ours.

Why inside the server: API logins talk to PostgreSQL directly, so nothing in front of it could
stop a ``DROP TABLE``. Three pieces, all in the schema ``moonbase_internal``, which belongs to
the internal superuser and on which nobody else has any privilege (so no login can change,
call or shadow them):

* an **event trigger on ddl_command_start** that raises for every ``session_user`` other than
  ``moonbase_admin``. It sees CREATE/ALTER/DROP of every object kind, RENAME, COMMENT,
  GRANT/REVOKE and CREATE TEMP TABLE (temporary tables are refused too: the trigger runs before
  PostgreSQL knows what the command will create). ``REFRESH MATERIALIZED VIEW`` also fires it
  and is let through: it changes rows, not the schema. Only superusers can disable or drop an event
  trigger, and ``postgres`` is not one. ``session_user`` (not ``current_user``) so that
  ``SET ROLE`` changes nothing;
* **statement-level BEFORE TRUNCATE triggers** on every table (event triggers never see
  TRUNCATE; TRUNCATE of a partitioned table does not fire its partitions' triggers, so each
  partition gets its own), raising the same error;
* an **event trigger on ddl_command_end** that gives tables created *by us* while the guard is
  on (deploy requests run as ``moonbase_admin``) their TRUNCATE trigger, so the guard never
  has holes.

The message is PlanetScale's (``Data Definition Language is not supported on branches with safe
migrations enabled.``) with SQLSTATE 42501 (insufficient_privilege), the same class MariaDB
uses for the privilege-based guard. Turning it off drops the schema with CASCADE, which takes
both event triggers and every TRUNCATE trigger with it (they depend on its functions).

It is installed in every database that accepts connections and is not a template. It runs on
the primary only: the catalog changes reach replicas through replication.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from moonbase.engines.base import SAFE_MIGRATIONS_MESSAGE
from moonbase.engines.postgresql_roles import ADMIN_ROLE

INTERNAL_SCHEMA = "moonbase_internal"
MESSAGE = SAFE_MIGRATIONS_MESSAGE
TRUNCATE_TRIGGER = "moonbase_refuse_truncate"
_REFUSE_DDL = "moonbase_refuse_ddl"
_GUARD_NEW_TABLES = "moonbase_guard_new_tables"
_LOCK_TIMEOUT = "5s"  # adding triggers waits for table locks; give up (and retry) rather than hang

Connect = Callable[[str], psycopg.Connection[tuple[object, ...]]]

_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION {INTERNAL_SCHEMA}.refuse_ddl() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    IF session_user <> '{ADMIN_ROLE}' AND TG_TAG <> 'REFRESH MATERIALIZED VIEW' THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$fn$;
CREATE OR REPLACE FUNCTION {INTERNAL_SCHEMA}.refuse_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    IF session_user <> '{ADMIN_ROLE}' THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$fn$;
CREATE OR REPLACE FUNCTION {INTERNAL_SCHEMA}.guard_new_tables() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    created oid;
BEGIN
    FOR created IN
        SELECT c.oid FROM pg_event_trigger_ddl_commands() AS cmd
        JOIN pg_class AS c ON c.oid = cmd.objid
        WHERE cmd.classid = 'pg_class'::regclass AND c.relkind IN ('r', 'p')
          AND c.relpersistence <> 't'
          AND NOT EXISTS (SELECT 1 FROM pg_trigger AS t
                          WHERE t.tgrelid = c.oid AND t.tgname = '{TRUNCATE_TRIGGER}')
    LOOP
        EXECUTE format('CREATE TRIGGER {TRUNCATE_TRIGGER} BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION {INTERNAL_SCHEMA}.refuse_truncate()',
                       created::regclass);
    END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION {INTERNAL_SCHEMA}.refuse_ddl() FROM PUBLIC;
REVOKE ALL ON FUNCTION {INTERNAL_SCHEMA}.refuse_truncate() FROM PUBLIC;
REVOKE ALL ON FUNCTION {INTERNAL_SCHEMA}.guard_new_tables() FROM PUBLIC;
"""

#: user tables that still lack the TRUNCATE trigger (temporary tables are session-private)
_UNGUARDED_TABLES = f"""
SELECT c.oid::regclass::text FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', '{INTERNAL_SCHEMA}')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_trigger AS t
                  WHERE t.tgrelid = c.oid AND t.tgname = '{TRUNCATE_TRIGGER}')
ORDER BY 1
"""


def _databases(connect: Connect) -> list[str]:
    with connect("postgres") as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
            "ORDER BY datname"
        ).fetchall()
    return [str(r[0]) for r in rows]


def _event_trigger(
    conn: psycopg.Connection[tuple[object, ...]], name: str, event: str, tags: str, function: str
) -> None:
    """Create the event trigger unless it exists (there is no IF NOT EXISTS), and make sure it
    is enabled (a superuser could have disabled it by hand)."""
    exists = conn.execute("SELECT 1 FROM pg_event_trigger WHERE evtname = %s", (name,)).fetchone()
    if exists is None:
        conn.execute(
            sql.SQL("CREATE EVENT TRIGGER {} ON {} {} EXECUTE FUNCTION {}.{}()").format(
                sql.Identifier(name),
                sql.SQL(event),
                sql.SQL(tags),
                sql.Identifier(INTERNAL_SCHEMA),
                sql.Identifier(function),
            )
        )
    else:
        conn.execute(sql.SQL("ALTER EVENT TRIGGER {} ENABLE").format(sql.Identifier(name)))


def _enable(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {INTERNAL_SCHEMA}")
        conn.execute(f"ALTER SCHEMA {INTERNAL_SCHEMA} OWNER TO {ADMIN_ROLE}")
        conn.execute(f"REVOKE ALL ON SCHEMA {INTERNAL_SCHEMA} FROM PUBLIC")
        conn.execute(_FUNCTIONS)
        # the guard for new tables first: tables created from here on are covered by it
        _event_trigger(
            conn,
            _GUARD_NEW_TABLES,
            "ddl_command_end",
            "WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')",
            "guard_new_tables",
        )
        for (table,) in conn.execute(_UNGUARDED_TABLES).fetchall():
            conn.execute(
                sql.SQL(
                    "CREATE TRIGGER {} BEFORE TRUNCATE ON {} FOR EACH STATEMENT "
                    "EXECUTE FUNCTION {}.refuse_truncate()"
                ).format(
                    sql.Identifier(TRUNCATE_TRIGGER),
                    sql.SQL(str(table)),  # regclass output: already quoted and qualified
                    sql.Identifier(INTERNAL_SCHEMA),
                )
            )
        _event_trigger(conn, _REFUSE_DDL, "ddl_command_start", "", "refuse_ddl")


def set_safe_migrations(connect: Connect, enabled: bool) -> None:
    """Install (idempotently: missing pieces are added, present ones kept) or remove the
    guard in every non-template database."""
    for dbname in _databases(connect):
        with connect(dbname) as conn:
            if enabled:
                _enable(conn)
            else:
                with conn.transaction():
                    conn.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
                    conn.execute(f"DROP SCHEMA IF EXISTS {INTERNAL_SCHEMA} CASCADE")


def is_enabled(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Whether the DDL guard is active in the database ``conn`` is connected to."""
    row = conn.execute(
        "SELECT 1 FROM pg_event_trigger WHERE evtname = %s AND evtenabled <> 'D'", (_REFUSE_DDL,)
    ).fetchone()
    return row is not None
