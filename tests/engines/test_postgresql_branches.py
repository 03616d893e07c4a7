"""PostgreSQL branches against real servers: copy_schema, tables(), seed_replica.

Source and destination are compared by introspecting both servers' catalogs, never through
anything Moonbase recorded.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import psycopg
import pytest

from moonbase.engines.base import Credential, Engine, EngineError, ServerRole, ServerSpec

if TYPE_CHECKING:
    from conftest import Servers

USER = "pscale_api_ab12.k3j4h5g6f7d8"
PASSWORD = "pscale_pw_Tr0ub4dor&3-'quote'"

#: run by the superuser: an untrusted extension only a superuser may create
SUPERUSER_SETUP = "CREATE EXTENSION pg_buffercache"

#: run as the branch owner ``postgres``
RICH_SCHEMA = r"""
CREATE EXTENSION pg_trgm;
CREATE EXTENSION citext;
CREATE SCHEMA billing;
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE billing.money_pair AS (amount numeric(12, 2), currency char(3));
CREATE DOMAIN public.email AS citext CHECK (VALUE ~ '@');
CREATE SEQUENCE billing.invoice_no START 1000 INCREMENT 5;
CREATE TABLE public.users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email email NOT NULL UNIQUE,
    name text COLLATE "C" DEFAULT 'anon',
    mood mood DEFAULT 'ok',
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    score int CHECK (score >= 0),
    nick text,
    name_len int GENERATED ALWAYS AS (length(name)) STORED
);
CREATE UNIQUE INDEX users_nick_live ON public.users (nick) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_lower_name ON public.users (lower(name));
CREATE INDEX users_name_trgm ON public.users USING gin (name gin_trgm_ops);
CREATE TABLE billing.invoices (
    no int PRIMARY KEY DEFAULT nextval('billing.invoice_no'),
    user_id bigint NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    total billing.money_pair,
    status text NOT NULL DEFAULT 'open',
    line serial,
    ref uuid UNIQUE,
    CONSTRAINT status_ok CHECK (status IN ('open', 'paid')),
    UNIQUE (user_id, no)
);
ALTER SEQUENCE billing.invoice_no OWNED BY billing.invoices.no;
CREATE TABLE public.events (id int NOT NULL, k int NOT NULL, PRIMARY KEY (id, k))
    PARTITION BY RANGE (k);
CREATE TABLE public.events_low PARTITION OF public.events FOR VALUES FROM (0) TO (100);
CREATE VIEW billing.open_invoices AS
    SELECT no, user_id FROM billing.invoices WHERE status = 'open';
CREATE MATERIALIZED VIEW public.user_moods AS
    SELECT mood, count(*) AS n FROM public.users GROUP BY mood;
CREATE FUNCTION billing.total_for(uid bigint) RETURNS numeric LANGUAGE sql STABLE
    AS $$ SELECT coalesce(sum((total).amount), 0) FROM billing.invoices WHERE user_id = uid $$;
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON public.users
    FOR EACH ROW EXECUTE FUNCTION public.touch();
COMMENT ON TABLE public.users IS 'people';
INSERT INTO public.users (email, name, nick) VALUES ('a@x', 'Ann', 'ann'), ('b@x', 'Bob', NULL);
INSERT INTO billing.invoices (user_id, total, ref)
    SELECT id, ROW(9.5, 'EUR')::billing.money_pair, gen_random_uuid() FROM public.users;
INSERT INTO public.events VALUES (1, 5), (2, 50);
REFRESH MATERIALIZED VIEW public.user_moods;
"""

#: the same query on both servers: everything the schema consists of, no oids
FINGERPRINT = r"""
WITH user_ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'moonbase_internal')
      AND nspname !~ '^pg_(toast|temp_|toast_temp_)'
)
SELECT 'schema', nspname FROM user_ns
UNION ALL SELECT 'extension', concat_ws(' ', extname, extversion, extnamespace::regnamespace)
    FROM pg_extension
UNION ALL SELECT 'relation', concat_ws(' ', c.oid::regclass, c.relkind, c.relpersistence,
        obj_description(c.oid, 'pg_class'))
    FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
UNION ALL SELECT 'column', concat_ws(' ', a.attrelid::regclass, a.attname,
        format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
        a.attidentity, a.attgenerated, a.attcollation::regcollation)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN user_ns n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
      AND NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.objid = c.oid AND x.deptype = 'e')
UNION ALL SELECT 'constraint', concat_ws(' ', conrelid::regclass, contypid::regtype, conname,
        pg_get_constraintdef(k.oid))
    FROM pg_constraint k JOIN user_ns n ON n.oid = k.connamespace
UNION ALL SELECT 'index', pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN user_ns n ON n.oid = c.relnamespace
UNION ALL SELECT 'view', concat_ws(' ', c.oid::regclass, pg_get_viewdef(c.oid))
    FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm')
UNION ALL SELECT 'type', concat_ws(' ', t.oid::regtype, t.typtype,
        (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum
         WHERE enumtypid = t.oid),
        format_type(NULLIF(t.typbasetype, 0), t.typtypmod))
    FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
    WHERE t.typcategory <> 'A' AND t.typrelid = 0
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')
UNION ALL SELECT 'composite', concat_ws(' ', c.oid::regclass, a.attname,
        format_type(a.atttypid, a.atttypmod))
    FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
    WHERE c.relkind = 'c'
UNION ALL SELECT 'function', pg_get_functiondef(p.oid)
    FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL SELECT 'trigger', pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN user_ns n ON n.oid = c.relnamespace
    WHERE NOT t.tgisinternal
UNION ALL SELECT 'sequence', concat_ws(' ', schemaname, sequencename, data_type, start_value,
        increment_by, max_value)
    FROM pg_sequences
ORDER BY 1, 2
"""

#: owners of everything users created (extension members excluded)
OWNERS = r"""
SELECT DISTINCT pg_get_userbyid(owner) FROM (
    SELECT c.relowner AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'billing')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
    UNION ALL SELECT t.typowner FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname IN ('public', 'billing') AND t.typcategory <> 'A' AND t.typrelid = 0
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')
    UNION ALL SELECT p.proowner FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname IN ('public', 'billing')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    UNION ALL SELECT nspowner FROM pg_namespace WHERE nspname IN ('public', 'billing')
) AS o
"""

ROW_COUNTS = (
    "SELECT (SELECT count(*) FROM public.users), (SELECT count(*) FROM billing.invoices), "
    "(SELECT count(*) FROM public.events), "
    "(SELECT relispopulated FROM pg_class WHERE relname = 'user_moods')"
)


def as_owner(sql: str) -> str:
    return f"SET ROLE postgres; {sql}; RESET ROLE"


def login(spec: ServerSpec, user: str, password: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host="127.0.0.1",
        port=spec.port,
        user=user,
        password=password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )


def rich_source(pg: Engine, servers: Servers) -> ServerSpec:
    source = servers.primary("source")
    pg.admin_query(source, SUPERUSER_SETUP)
    pg.admin_query(source, as_owner(RICH_SCHEMA))
    # an API login that owns a table and holds grants: neither may reach the branch
    pg.apply_credential(
        source,
        Credential(USER, pg.make_verifier(USER, PASSWORD), inherited_roles=("postgres",)),
    )
    with login(source, USER, PASSWORD) as conn:
        conn.execute("CREATE TABLE public.api_made (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO public.api_made VALUES (1, 'x')")
        conn.execute(f'GRANT SELECT ON public.users TO "{USER}"')
    pg.admin_query(source, "SELECT nextval('billing.invoice_no'), nextval('billing.invoice_no')")
    return source


def test_copy_schema_copies_every_kind_of_object_and_no_rows(pg_servers: Servers):
    pg = pg_servers.engine
    source = rich_source(pg, pg_servers)
    dest = pg_servers.primary("dest")

    pg.copy_schema(source, dest)

    assert pg.admin_query(dest, FINGERPRINT) == pg.admin_query(source, FINGERPRINT)
    assert pg.tables(dest) == pg.tables(source)
    assert pg.admin_query(source, ROW_COUNTS) == [(2, 2, 2, True)]
    assert pg.admin_query(dest, ROW_COUNTS) == [(0, 0, 0, False)]  # matview: WITH NO DATA
    assert pg.admin_query(dest, "SELECT count(*) FROM public.api_made") == [(0,)]
    # sequences start over, identity and serial columns too
    assert pg.admin_query(dest, "SELECT last_value, is_called FROM billing.invoice_no") == [
        (1000, False)
    ]
    # owned by the branch owner: not moonbase_admin, not the parent's API login
    assert pg.admin_query(dest, OWNERS) == [("postgres",)]
    assert pg.admin_query(
        dest, "SELECT extname, pg_get_userbyid(extowner) FROM pg_extension ORDER BY 1"
    ) == [
        ("citext", "postgres"),
        ("pg_buffercache", "moonbase_admin"),  # untrusted: only a superuser may create it
        ("pg_trgm", "postgres"),
        ("plpgsql", "moonbase_admin"),
    ]
    assert pg.admin_query(dest, f"SELECT count(*) FROM pg_roles WHERE rolname = '{USER}'") == [(0,)]
    assert pg.admin_query(dest, "SELECT relacl FROM pg_class WHERE relname = 'users'") == [(None,)]
    # the copy works: constraints, defaults, triggers, functions
    pg.admin_query(
        dest,
        as_owner(
            "INSERT INTO public.users (email, name) VALUES ('c@x', 'Cy'); "
            "INSERT INTO billing.invoices (user_id) SELECT id FROM public.users"
        ),
    )
    assert pg.admin_query(dest, "SELECT no, line FROM billing.invoices") == [(1000, 1)]
    assert pg.admin_query(dest, "SELECT billing.total_for(1)") == [(0,)]
    with pytest.raises(Exception, match="violates check constraint"):
        pg.admin_query(dest, "INSERT INTO public.users (email) VALUES ('no-at-sign')")

    pg.copy_schema(source, dest)  # idempotent: a retry after a crash changes nothing
    assert pg.admin_query(dest, "SELECT count(*) FROM public.users") == [(1,)]
    assert not (dest.root / ".schema-copy").exists()


def test_copy_schema_leaves_safe_migrations_behind(pg_servers: Servers):
    pg = pg_servers.engine
    source = pg_servers.primary("source")
    pg.admin_query(source, as_owner("CREATE TABLE public.t (id int PRIMARY KEY)"))
    pg.set_safe_migrations(source, True)
    dest = pg_servers.primary("dest")

    pg.copy_schema(source, dest)

    assert pg.admin_query(dest, "SELECT count(*) FROM pg_event_trigger") == [(0,)]
    assert pg.admin_query(dest, "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal") == []
    assert pg.admin_query(
        dest, "SELECT count(*) FROM pg_namespace WHERE nspname = 'moonbase_internal'"
    ) == [(0,)]
    pg.admin_query(dest, as_owner("ALTER TABLE public.t ADD COLUMN x int"))  # DDL allowed


def test_copy_schema_that_cannot_work_fails_permanently(pg_servers: Servers):
    pg = pg_servers.engine
    source = pg_servers.primary("source")
    pg.apply_credential(source, Credential(USER, pg.make_verifier(USER, PASSWORD)))
    pg.admin_query(
        source,
        as_owner(f'CREATE TABLE t (id int); CREATE POLICY mine ON t TO "{USER}" USING (true)'),
    )
    dest = pg_servers.primary("dest")
    with pytest.raises(EngineError, match=f'role "{USER}" does not exist') as failed:
        pg.copy_schema(source, dest)
    assert failed.value.permanent
    assert pg.admin_query(dest, "SELECT to_regclass('public.t')") == [(None,)]  # all or nothing


def test_tables_describes_keys_and_statements(pg_servers: Servers):
    pg = pg_servers.engine
    source = rich_source(pg, pg_servers)
    found = {(t.namespace, t.name): t for t in pg.tables(source)}
    assert set(found) == {
        ("billing", "invoices"),
        ("public", "api_made"),
        ("public", "events"),
        ("public", "events_low"),
        ("public", "users"),
    }
    users = found[("public", "users")]
    assert users.columns[:3] == (
        ("id", "bigint", False),
        ("email", "public.email", False),
        ("name", "text", True),
    )
    assert users.unique_keys == (("id",), ("email",), ("lower(name)",), ("nick",))
    assert users.strict_unique_keys == (("id",), ("email",))
    assert users.charset is None and users.engine is None
    for fragment in (
        "CREATE TABLE public.users (\n    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,",
        "    name text COLLATE pg_catalog.\"C\" DEFAULT 'anon'::text,",
        "    name_len integer GENERATED ALWAYS AS (length(name)) STORED",
        "    CONSTRAINT users_pkey PRIMARY KEY (id)",
        "    CONSTRAINT users_score_check CHECK ((score >= 0))",
        "CREATE INDEX users_name_trgm ON public.users USING gin (name public.gin_trgm_ops);",
        "CREATE UNIQUE INDEX users_nick_live ON public.users USING btree (nick) "
        "WHERE (deleted_at IS NULL);",
    ):
        assert fragment in users.raw, (fragment, users.raw)
    assert "users_pkey ON" not in users.raw  # constraint indexes are in the constraint

    invoices = found[("billing", "invoices")]
    assert invoices.unique_keys == (("no",), ("ref",), ("user_id", "no"))
    assert invoices.strict_unique_keys == (("no",), ("user_id", "no"))
    assert "REFERENCES public.users(id) ON DELETE CASCADE" in invoices.raw
    assert "DEFAULT nextval('billing.invoice_no'::regclass)" in invoices.raw

    assert found[("public", "events")].raw.endswith(") PARTITION BY RANGE (k);")
    low = found[("public", "events_low")]
    assert low.raw == (
        "CREATE TABLE public.events_low PARTITION OF public.events\nFOR VALUES FROM (0) TO (100);"
    )
    assert low.strict_unique_keys == (("id", "k"),)


def generated_schema(count: int, first: int = 0, last: int | None = None) -> str:
    """Tables ``first`` to ``last`` of ``count``, each with an identity key, a unique and a
    plain index, a check, a default, and a foreign key to the previous table."""
    statements = []
    for i in range(first, min(count, last if last is not None else count)):
        fk = f", parent_id bigint REFERENCES public.t{i - 1:04d} (id)" if i else ""
        statements.append(
            f"CREATE TABLE public.t{i:04d} (id bigint GENERATED BY DEFAULT AS IDENTITY "
            f"PRIMARY KEY, code text NOT NULL UNIQUE, qty int NOT NULL DEFAULT 0 "
            f"CHECK (qty >= 0), created_at timestamptz DEFAULT now(){fk})"
        )
        statements.append(f"CREATE INDEX t{i:04d}_created ON public.t{i:04d} (created_at)")
    return ";\n".join(statements)


def test_tables_statements_rebuild_the_same_tables(pg_servers: Servers):
    """The raw statements are complete: replayed in order they build an identical schema."""
    pg = pg_servers.engine
    source = pg_servers.primary("source")
    pg.admin_query(source, as_owner(generated_schema(30)))
    described = pg.tables(source)
    replay = pg_servers.primary("replay")
    pg.admin_query(replay, as_owner("\n".join(t.raw for t in described)))
    assert pg.tables(replay) == described


def test_a_thousand_tables(pg_servers: Servers):
    """tables() stays fast for big schemas, and copy_schema copes with them (its restore is
    one transaction holding a lock per table, index and sequence)."""
    pg = pg_servers.engine
    count = 1000
    source = pg_servers.primary("source")
    for first in range(0, count, 100):
        pg.admin_query(source, as_owner(generated_schema(count, first, first + 100)))

    started = time.monotonic()
    described = pg.tables(source)
    took = time.monotonic() - started
    print(f"\ntables() for {count} tables on PostgreSQL {pg.version}: {took:.3f}s")
    assert len(described) == count
    assert described[5].strict_unique_keys == (("id",), ("code",))

    dest = pg_servers.primary("dest")
    started = time.monotonic()
    pg.copy_schema(source, dest)
    print(f"copy_schema for {count} tables: {time.monotonic() - started:.3f}s")
    assert pg.tables(dest) == described


def test_seed_replica_from_a_primary_that_recycled_its_wal(pg_servers: Servers):
    pg = pg_servers.engine
    primary = pg_servers.primary()
    pg.admin_query(primary, "CREATE TABLE moons (id int PRIMARY KEY, name text)")
    first_segment = pg.admin_query(primary, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    for i in range(12):  # past wal_keep_size (128MB = 8 segments): early WAL is recycled
        pg.admin_query(primary, f"INSERT INTO moons VALUES ({i}, 'moon {i}')")
        pg.admin_query(primary, "SELECT pg_switch_wal()")
        pg.admin_query(primary, "CHECKPOINT")
    segments = {str(r[0]) for r in pg.admin_query(primary, "SELECT name FROM pg_ls_waldir()")}
    assert first_segment[0][0] not in segments  # a template copy could no longer catch up

    replica = pg_servers.spec("replica2", role=ServerRole.REPLICA, server_id=2, primary=primary)
    started = time.monotonic()
    pg.seed_replica(primary, replica)
    print(f"\nseed_replica on PostgreSQL {pg.version}: {time.monotonic() - started:.3f}s")
    pg.seed_replica(primary, replica)  # idempotent: the folder exists, nothing happens
    assert not (replica.root / "data" / "postmaster.pid").exists()
    pg.configure(replica)
    pg.start(replica)
    pg_servers.started.append(replica)
    pg.wait_ready(replica, 30.0)
    pg_servers.wait_until(lambda: pg.replica_status(replica).streaming, what="streaming")
    assert pg.admin_query(replica, "SELECT count(*) FROM moons") == [(12,)]
    pg.admin_query(primary, "INSERT INTO moons VALUES (100, 'late')")
    pg_servers.wait_until(
        lambda: pg.admin_query(replica, "SELECT count(*) FROM moons") == [(13,)],
        what="streamed row",
    )
    assert pg.admin_query(replica, "SELECT pg_is_in_recovery()") == [(True,)]
    assert pg.admin_query(
        primary, "SELECT active FROM pg_replication_slots WHERE slot_name = 'replica_2'"
    ) == [(True,)]
