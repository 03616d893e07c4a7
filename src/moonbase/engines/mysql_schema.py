"""MariaDB schemas: copy one server's application database to a new branch, describe its tables.

**copy_schema** runs ``mariadb-dump --no-data --routines --triggers --events
--single-transaction`` over the source's private socket as root, rewrites the dump, and loads
it with the ``mariadb`` client into the destination's database of the same name (the client,
not PyMySQL, because the dump uses client syntax: ``DELIMITER``, the sandbox-mode header).
Two rewrites:

* **Definers.** Views, triggers, routines and events name a ``DEFINER`` account, usually an
  API login of the parent or ``root``; the former does not exist on a new branch (every call
  would fail), the latter would turn any ``SQL SECURITY DEFINER`` routine that runs dynamic SQL
  into a door to root. So every definer becomes ``moonbase_definer@localhost``: a locked
  account (nobody can log in as it) whose only privileges are on the application database,
  which is exactly the authority a branch owner's objects should have. ``SQL SECURITY`` stays
  as written.
* **AUTO_INCREMENT=n** table options are dropped: a branch has no rows, so its counters start
  at the beginning (as PostgreSQL's sequences do).

Retrying after a crash must work although DDL cannot be rolled back: the copy is complete once
``<root>/schema-copied`` exists; until then a retry empties the destination database (DROP and
CREATE with the source's character set and collation) and loads again, but only if no table in
it holds a row, so it can never destroy data.

**tables** reads information_schema for columns and unique keys (one query each for the whole
database) and ``SHOW CREATE TABLE`` per table, all on one connection. AUTO_INCREMENT=n is
dropped from the statement for the same reason as above: it is state, not schema.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from moonbase.engines.base import EngineError, ServerSpec, TableSchema
from moonbase.engines.mysql_accounts import (
    DEFINER_USER,
    execute,
    fetch_rows,
    grant_pattern,
    quote_ident,
)
from moonbase.engines.process import clean_env, write_file
from moonbase.engines.tools import run_tool

if TYPE_CHECKING:
    from moonbase.engines.mysql import MariaDBEngine

Conn = Any  # pymysql.connections.Connection

DONE_MARKER = "schema-copied"
_TOOL_TIMEOUT = 1800.0
_DEFINER_HOST = "localhost"
_QUOTED = r"`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'"
#: ``DEFINER=user[@host]`` where mariadb-dump writes it: after CREATE (routines) or inside a
#: versioned comment (views /*!50013, triggers /*!50017, events /*!50117)
_DEFINER = re.compile(
    rf"(?P<lead>CREATE |/\*!\d{{5}} )DEFINER=(?:{_QUOTED}|[^\s@*]+)(?:@(?:{_QUOTED}|[^\s*]+))?"
)
_AUTO_INCREMENT = re.compile(r" AUTO_INCREMENT=\d+")
_SERVER_ERROR = re.compile(r"ERROR (\d+) \(")  # the client's report of a failed statement


def strip_auto_increment(statements: str) -> str:
    """Drop ``AUTO_INCREMENT=n`` from the table options line of every CREATE TABLE."""
    lines = statements.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(") ENGINE="):
            lines[i] = _AUTO_INCREMENT.sub("", line)
    return "\n".join(lines)


def rewrite_dump(dump: str) -> str:
    """Definers to the branch's definer account, AUTO_INCREMENT counters dropped."""
    definer = f"DEFINER={quote_ident(DEFINER_USER)}@{quote_ident(_DEFINER_HOST)}"
    return strip_auto_increment(_DEFINER.sub(lambda m: m.group("lead") + definer, dump))


def _check_database_name(name: str) -> None:
    # passed to the client tools as an argument: it must never read as an option
    if not name or name.startswith("-") or "\x00" in name:
        raise EngineError(f"invalid database name {name!r}", permanent=True)


def _client_args(engine: MariaDBEngine, spec: ServerSpec) -> list[str]:
    return [
        "--no-defaults",  # must come first; no /etc/mysql, no ~/.my.cnf
        f"--socket={engine.socket_path(spec.root)}",
        "--user=root",
        "--default-character-set=utf8mb4",
    ]


def _ensure_definer(conn: Conn, database: str) -> None:
    execute(conn, "CREATE USER IF NOT EXISTS %s@%s ACCOUNT LOCK", (DEFINER_USER, _DEFINER_HOST))
    execute(conn, "ALTER USER %s@%s ACCOUNT LOCK", (DEFINER_USER, _DEFINER_HOST))
    target = f"{quote_ident(grant_pattern(database))}.*".replace("%", "%%")
    execute(conn, f"GRANT ALL PRIVILEGES ON {target} TO %s@%s", (DEFINER_USER, _DEFINER_HOST))


def _empty_database(conn: Conn, database: str, charset: str, collation: str) -> None:
    """(Re)create ``database`` empty, refusing if any of its tables holds a row."""
    db = quote_ident(database)
    for row in fetch_rows(
        conn,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
        "AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')",
        (database,),
    ):
        table = f"{db}.{quote_ident(str(row['TABLE_NAME']))}"
        if fetch_rows(conn, f"SELECT 1 AS x FROM {table} LIMIT 1"):
            raise EngineError(
                f"cannot copy a schema into {database}: it already holds data", permanent=True
            )
    execute(conn, f"DROP DATABASE IF EXISTS {db}")
    execute(conn, f"CREATE DATABASE {db} CHARACTER SET %s COLLATE %s", (charset, collation))


def copy_schema(engine: MariaDBEngine, source: ServerSpec, dest: ServerSpec) -> None:
    marker = dest.root / DONE_MARKER
    if marker.exists():
        return
    database = source.database_name
    _check_database_name(database)
    _check_database_name(dest.database_name)
    with engine.admin_connection(source) as conn:
        found = fetch_rows(
            conn,
            "SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co "
            "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
            (database,),
        )
    if not found:
        raise EngineError(f"the source has no database {database}", permanent=True)
    dump = run_tool(
        [
            engine.client("mariadb-dump"),
            *_client_args(engine, source),
            "--no-data",
            "--routines",
            "--triggers",
            "--events",
            "--skip-add-drop-table",
            "--single-transaction",
            "--skip-comments",
            "--no-tablespaces",
            database,
        ],
        run_as=engine.run_as,
        cwd=source.root,
        timeout=_TOOL_TIMEOUT,
        env=clean_env(),
    )
    script = rewrite_dump(dump.decode("utf-8")).encode("utf-8")
    with engine.admin_connection(dest) as conn:
        execute(conn, "SET SESSION sql_log_off = 1")
        _empty_database(conn, dest.database_name, str(found[0]["cs"]), str(found[0]["co"]))
        _ensure_definer(conn, dest.database_name)
    try:
        run_tool(
            [engine.client("mariadb"), *_client_args(engine, dest), dest.database_name],
            run_as=engine.run_as,
            cwd=dest.root,
            timeout=_TOOL_TIMEOUT,
            stdin=script,
            env=clean_env(),
        )
    except EngineError as exc:
        server_error = _SERVER_ERROR.search(str(exc))
        if server_error is not None and int(server_error.group(1)) < 2000:  # 2xxx: client side
            raise EngineError(f"copying the schema failed: {exc}", permanent=True) from exc
        raise
    write_file(marker, "", engine.run_as)


# --- tables ---------------------------------------------------------------------------------


def tables(conn: Conn, database: str) -> list[TableSchema]:
    found = fetch_rows(
        conn,
        "SELECT t.TABLE_NAME AS name, t.ENGINE AS engine, t.TABLE_COLLATION AS collation, "
        "c.CHARACTER_SET_NAME AS charset FROM information_schema.TABLES AS t "
        "LEFT JOIN information_schema.COLLATIONS AS c ON c.COLLATION_NAME = t.TABLE_COLLATION "
        "WHERE t.TABLE_SCHEMA = %s AND t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') "
        "ORDER BY t.TABLE_NAME",
        (database,),
    )
    columns: dict[str, list[tuple[str, str, bool]]] = defaultdict(list)
    for row in fetch_rows(
        conn,
        "SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS type, IS_NULLABLE AS n "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
        "ORDER BY TABLE_NAME, ORDINAL_POSITION",
        (database,),
    ):
        columns[str(row["t"])].append((str(row["c"]), str(row["type"]), row["n"] == "YES"))
    keys: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for row in fetch_rows(
        conn,
        "SELECT TABLE_NAME AS t, INDEX_NAME AS i, COLUMN_NAME AS c "
        "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND NON_UNIQUE = 0 "
        "ORDER BY TABLE_NAME, INDEX_NAME <> 'PRIMARY', INDEX_NAME, SEQ_IN_INDEX",
        (database,),
    ):
        keys[str(row["t"])].setdefault(str(row["i"]), []).append(str(row["c"]))
    db = quote_ident(database)
    result = []
    for table in found:
        name = str(table["name"])
        with conn.cursor() as cur:
            cur.execute(f"SHOW CREATE TABLE {db}.{quote_ident(name)}")
            raw = str(cur.fetchone()[1])
        nullable = {c: n for c, _, n in columns[name]}
        unique = [tuple(cols) for cols in keys[name].values()]
        collation = table["collation"]
        charset = table["charset"] or (str(collation).split("_", 1)[0] if collation else None)
        result.append(
            TableSchema(
                name=name,
                raw=strip_auto_increment(raw),
                columns=tuple(columns[name]),
                unique_keys=tuple(unique),
                strict_unique_keys=tuple(
                    k for k in unique if not any(nullable.get(c, True) for c in k)
                ),
                charset=charset,
                engine=str(table["engine"]) if table["engine"] else None,
            )
        )
    return result
