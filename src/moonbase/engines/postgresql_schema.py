"""PostgreSQL schemas: copy one server's schema to a new branch, and describe its tables.

**copy_schema** (a development branch: the parent's schema, no rows). ``pg_dump --schema-only
--format=custom`` of the source's application database over its private socket, then the
archive is replayed on the destination in three steps, because ownership must end up with the
branch's owner role ``postgres``, not with ``moonbase_admin`` and not with the parent's API
roles (they do not exist on the child):

1. schemas, created ``IF NOT EXISTS`` as ``postgres``;
2. extensions, created ``IF NOT EXISTS`` as ``postgres`` (trusted ones, such as pg_trgm or
   citext, are then the branch owner's) and, where PostgreSQL refuses that (untrusted ones),
   as the superuser, in the source's order, schema and version;
3. everything else with ``pg_restore --role=postgres --no-owner --no-privileges
   --single-transaction --exit-on-error``: created by ``postgres``, so owned by it, and
   all-or-nothing.

Steps 1 and 2 are idempotent by themselves; step 3 is one transaction, so a retry after a
crash checks whether the destination already holds user objects (then step 3 committed) and
skips it. What is left out on purpose: grants (they name the parent's roles), publications,
subscriptions (a branch must not start pulling data), security labels, statistics, large
objects, and Moonbase's own safe-migrations guard (schema ``moonbase_internal``, its event
triggers and TRUNCATE triggers: a new branch starts without safe migrations). Sequences start
again at their start value because ``--schema-only`` carries no ``setval``. Objects that only a
superuser may create (functions in untrusted languages, foreign servers), or that name a role
the branch lacks (a policy ``TO`` an API role), fail the copy permanently with PostgreSQL's own
error.

**tables** rebuilds each table's CREATE TABLE statement from pg_catalog (one pg_dump per table
would mean a process and a catalog scan per table): four queries in total, whatever the number
of tables, run with ``search_path = pg_catalog`` so every name in the output is
schema-qualified. Constraint indexes appear as their constraint, other indexes as CREATE INDEX
after the table; a partition is shown as ``PARTITION OF`` its parent.
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg.errors
from psycopg import sql

from moonbase.engines.base import EngineError, ServerSpec, TableSchema
from moonbase.engines.postgresql_roles import ADMIN_ROLE, DEFAULT_ROLE
from moonbase.engines.postgresql_safe_migrations import INTERNAL_SCHEMA
from moonbase.engines.process import clean_env, make_dir, write_file
from moonbase.engines.tools import run_tool

if TYPE_CHECKING:
    from moonbase.engines.postgresql import PostgreSQLEngine

Conn = psycopg.Connection[tuple[Any, ...]]

_TOOL_TIMEOUT = 1800.0
_TOC_ENTRY = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")
#: archive entries replayed by steps 1 and 2 or not at all (see the module docstring)
_SKIPPED = (
    "SCHEMA ",
    "EXTENSION ",
    "COMMENT - EXTENSION ",
    "EVENT TRIGGER ",
    "COMMENT - EVENT TRIGGER ",
    "STATISTICS DATA ",
    "BLOB ",
    "BLOB METADATA ",
    "LARGE OBJECT ",
)
_USER_SCHEMA = (
    f"n.nspname NOT IN ('pg_catalog', 'information_schema', '{INTERNAL_SCHEMA}') "
    "AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"
)


def _not_extension_member(catalog: str, alias: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = '{catalog}'::regclass "
        f"AND d.objid = {alias}.oid AND d.deptype = 'e')"
    )


#: does the destination already hold anything step 3 creates?
_HAS_USER_OBJECTS = f"""
SELECT EXISTS (
    SELECT 1 FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE {_USER_SCHEMA} AND {_not_extension_member("pg_class", "c")}
) OR EXISTS (
    SELECT 1 FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
    WHERE {_USER_SCHEMA} AND {_not_extension_member("pg_proc", "p")}
) OR EXISTS (
    SELECT 1 FROM pg_type AS t JOIN pg_namespace AS n ON n.oid = t.typnamespace
    WHERE {_USER_SCHEMA} AND t.typrelid = 0 AND t.typcategory <> 'A'
      AND {_not_extension_member("pg_type", "t")}
)
"""


def _tool_env() -> dict[str, str]:
    return clean_env({"PGCONNECT_TIMEOUT": "10", "PGAPPNAME": "moonbase"})


def _connection_args(engine: PostgreSQLEngine, spec: ServerSpec) -> list[str]:
    return [
        f"--host={engine.socket_dir(spec.root)}",
        f"--port={spec.port}",
        f"--username={ADMIN_ROLE}",
        f"--dbname={spec.database_name}",
        "--no-password",
    ]


def copy_schema(engine: PostgreSQLEngine, source: ServerSpec, dest: ServerSpec) -> None:
    work = dest.root / ".schema-copy"
    shutil.rmtree(work, ignore_errors=True)
    make_dir(work, engine.run_as)
    try:
        archive = work / "schema.dump"
        run_tool(
            [
                engine.bin_dir / "pg_dump",
                *_connection_args(engine, source),
                "--schema-only",
                "--format=custom",
                f"--file={archive}",
                f"--exclude-schema={INTERNAL_SCHEMA}",
                "--no-publications",
                "--no-subscriptions",
                "--no-security-labels",
                "--no-tablespaces",
                "--no-sync",  # a scratch file, deleted below
            ],
            run_as=engine.run_as,
            cwd=work,
            timeout=_TOOL_TIMEOUT,
            env=_tool_env(),
        )
        toc = run_tool(
            [engine.bin_dir / "pg_restore", "--list", archive],
            run_as=engine.run_as,
            cwd=work,
            timeout=_TOOL_TIMEOUT,
            env=_tool_env(),
        ).decode("utf-8")
        entries = [m for m in map(_TOC_ENTRY.match, toc.splitlines()) if m is not None]
        with engine.admin_connection(source) as conn:
            schemas, extensions, guard_triggers = _source_facts(conn, entries)
        with engine.admin_connection(dest) as conn:
            _create_schemas_and_extensions(conn, schemas, extensions)
            if conn.execute(_HAS_USER_OBJECTS).fetchone() == (True,):
                return  # step 3 committed before (it is a single transaction)
        kept = [
            m.group(0)
            for m in entries
            if not m.group(4).startswith(_SKIPPED) and int(m.group(3)) not in guard_triggers
        ]
        listing = work / "restore.list"
        write_file(listing, "\n".join(kept) + "\n", engine.run_as)  # pg_restore must read it
        try:
            run_tool(
                [
                    engine.bin_dir / "pg_restore",
                    *_connection_args(engine, dest),
                    f"--role={DEFAULT_ROLE}",
                    "--no-owner",
                    "--no-privileges",
                    "--single-transaction",
                    "--exit-on-error",
                    f"--use-list={listing}",
                    archive,
                ],
                run_as=engine.run_as,
                cwd=work,
                timeout=_TOOL_TIMEOUT,
                env=_tool_env(),
            )
        except EngineError as exc:
            if "could not execute query" in str(exc):  # the schema itself: retrying won't help
                raise EngineError(f"copying the schema failed: {exc}", permanent=True) from exc
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _source_facts(
    conn: Conn, entries: list[re.Match[str]]
) -> tuple[list[str], list[tuple[str, str, str]], set[int]]:
    """From the source's catalog, for the archive's entries: schema names, extensions
    (name, schema, version) in creation order, and the oids of safe-migration TRUNCATE
    triggers (they live on user tables, so ``--exclude-schema`` does not remove them)."""
    schema_oids = [int(m.group(3)) for m in entries if m.group(4).startswith("SCHEMA ")]
    extension_oids = [int(m.group(3)) for m in entries if m.group(4).startswith("EXTENSION ")]
    schemas = [
        str(r[0])
        for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE oid = ANY(%s::oid[]) "
            "AND nspname NOT IN ('public', %s) ORDER BY oid",
            (schema_oids, INTERNAL_SCHEMA),
        ).fetchall()
    ]
    extensions = [
        (str(r[0]), str(r[1]), str(r[2]))
        for r in conn.execute(
            "SELECT e.extname, n.nspname, e.extversion FROM pg_extension AS e "
            "JOIN pg_namespace AS n ON n.oid = e.extnamespace "
            "WHERE e.oid = ANY(%s::oid[]) ORDER BY e.oid",
            (extension_oids,),
        ).fetchall()
    ]
    guard_triggers = {
        int(r[0])
        for r in conn.execute(
            "SELECT t.oid FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid "
            "JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname = %s",
            (INTERNAL_SCHEMA,),
        ).fetchall()
    }
    return schemas, extensions, guard_triggers


def _create_schemas_and_extensions(
    conn: Conn, schemas: list[str], extensions: list[tuple[str, str, str]]
) -> None:
    owner = sql.Identifier(DEFAULT_ROLE)
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(owner))
        for name in schemas:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
    for name, schema, version in extensions:
        create = sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {} VERSION {}").format(
            sql.Identifier(name), sql.Identifier(schema), sql.Literal(version)
        )
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(owner))
                conn.execute(create)
        except psycopg.errors.InsufficientPrivilege:  # untrusted: only a superuser may
            conn.execute(create)


# --- tables ---------------------------------------------------------------------------------

_TABLES = f"""
SELECT c.oid, n.nspname, c.relname, c.oid::regclass::text, c.relkind, c.relpersistence,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relispartition THEN
           (SELECT h.inhparent::regclass::text FROM pg_inherits AS h WHERE h.inhrelid = c.oid)
       END,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND {_USER_SCHEMA} AND {_not_extension_member("pg_class", "c")}
ORDER BY n.nspname, c.relname
"""
_COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname, quote_ident(a.attname),
       format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
       a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN
           quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
FROM pg_attribute AS a
JOIN pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation AS co ON co.oid = a.attcollation
LEFT JOIN pg_namespace AS cn ON cn.oid = co.collnamespace
WHERE a.attrelid = ANY(%s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""
_CONSTRAINTS = """
SELECT conrelid, quote_ident(conname), pg_get_constraintdef(oid), conislocal AND conparentid = 0
FROM pg_constraint
WHERE conrelid = ANY(%s::oid[]) AND contype IN ('p', 'u', 'x', 'f', 'c')
ORDER BY conrelid, CASE contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2
                                WHEN 'f' THEN 3 ELSE 4 END, conname
"""
_INDEXES = """
SELECT i.indrelid, pg_get_indexdef(i.indexrelid), i.indisunique, i.indisprimary,
       i.indpred IS NOT NULL, i.indimmediate AND i.indisvalid,
       EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conindid = i.indexrelid
               AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')),
       EXISTS (SELECT 1 FROM pg_inherits AS h WHERE h.inhrelid = i.indexrelid),
       ARRAY(SELECT i.indkey[k - 1] FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k),
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k)
FROM pg_index AS i JOIN pg_class AS ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY(%s::oid[])
ORDER BY i.indrelid, i.indisprimary DESC, ic.relname
"""


def _column_line(row: tuple[Any, ...]) -> str:
    _, _, _, quoted, data_type, not_null, default, identity, generated, collation = row
    parts = [f"    {quoted} {data_type}"]
    if collation:
        parts.append(f"COLLATE {collation}")
    if generated:
        kind = "STORED" if generated == "s" else "VIRTUAL"
        parts.append(f"GENERATED ALWAYS AS ({default}) {kind}")
    elif identity:
        parts.append(f"GENERATED {'ALWAYS' if identity == 'a' else 'BY DEFAULT'} AS IDENTITY")
    elif default is not None:
        parts.append(f"DEFAULT {default}")
    if not_null:
        parts.append("NOT NULL")
    return " ".join(parts)


def tables(conn: Conn) -> list[TableSchema]:
    with conn.transaction():
        conn.execute("SET LOCAL search_path = pg_catalog")
        found = conn.execute(_TABLES).fetchall()
        oids = [int(r[0]) for r in found]
        columns: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in conn.execute(_COLUMNS, (oids,)).fetchall():
            columns[int(row[0])].append(row)
        constraints: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in conn.execute(_CONSTRAINTS, (oids,)).fetchall():
            constraints[int(row[0])].append(row)
        indexes: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in conn.execute(_INDEXES, (oids,)).fetchall():
            indexes[int(row[0])].append(row)
    result = []
    for oid, namespace, name, qualified, kind, persistence, partkey, parent, bound in found:
        cols = columns[int(oid)]
        by_attnum = {int(c[1]): c for c in cols}
        local = [f"    CONSTRAINT {c[1]} {c[2]}" for c in constraints[int(oid)] if c[3]]
        head = f"CREATE {'UNLOGGED ' if persistence == 'u' else ''}TABLE {qualified}"
        suffix = f" PARTITION BY {partkey}" if kind == "p" else ""
        if parent is not None:  # columns come from the parent
            body = " (\n" + ",\n".join(local) + "\n)" if local else ""
            raw = f"{head} PARTITION OF {parent}{body}\n{bound}{suffix};"
        else:
            lines = [_column_line(c) for c in cols] + local
            raw = f"{head} (\n" + ",\n".join(lines) + f"\n){suffix};"
        statements = [raw]
        unique: list[tuple[str, ...]] = []
        strict: list[tuple[str, ...]] = []
        for index in indexes[int(oid)]:
            indexdef, is_unique, _, partial, immediate, backs, inherited, attnums, keys = index[1:]
            if not backs and not (inherited and parent is not None):
                statements.append(f"{indexdef};")
            if not is_unique:
                continue
            names = tuple(
                str(by_attnum[int(n)][2]) if int(n) in by_attnum else str(k)
                for n, k in zip(attnums, keys, strict=True)
            )
            unique.append(names)
            if (
                not partial
                and immediate
                and all(int(n) in by_attnum and by_attnum[int(n)][5] for n in attnums)
            ):
                strict.append(names)
        result.append(
            TableSchema(
                name=str(name),
                raw="\n".join(statements),
                namespace=str(namespace),
                columns=tuple((str(c[2]), str(c[4]), not c[5]) for c in cols),
                unique_keys=tuple(unique),
                strict_unique_keys=tuple(strict),
            )
        )
    return result
