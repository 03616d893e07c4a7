"""Schema lint: real problems found in a branch's tables, with PlanetScale's lint codes.

Pure functions over the tables the reconciler read from the server (``TableSchema`` as a
dict). Only rules that hold for a plain MariaDB / PostgreSQL server are checked:

* ``NO_UNIQUE_KEY``: a table needs a primary key or a unique key whose columns are all
  NOT NULL (and not a partial or expression index), so rows can be told apart (online schema
  changes copy rows by it).
* ``INVALID_CHARSET`` (MySQL): table character set outside utf8, utf8mb3, utf8mb4, latin1,
  ascii.
* ``UNSUPPORTED_ENGINE`` (MySQL): storage engine other than InnoDB (no transactions, no
  crash safety, no online schema change).
* ``BLOB_IN_UNIQUE_KEY`` (MySQL): a text/blob column in a unique key (only a prefix is
  indexed, so uniqueness is not what it seems).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DOCS = "https://planetscale.com/docs/vitess/schema-changes/schema-lint-errors"
ALLOWED_CHARSETS = {"utf8", "utf8mb3", "utf8mb4", "latin1", "ascii"}
BLOB_TYPES = ("blob", "text", "tinyblob", "mediumblob", "longblob", "tinytext", "mediumtext",
              "longtext", "json")  # fmt: skip


@dataclass(frozen=True)
class LintError:
    code: str
    table: str
    description: str
    docs_slug: str
    keyspace: str = ""
    column: str = ""
    charset: str = ""
    engine: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "lint_error": self.code,
            "subject_type": "table",
            "keyspace_name": self.keyspace,
            "table_name": self.table,
            "error_description": self.description,
            "docs_url": f"{DOCS}/{self.docs_slug}",
            "column_name": self.column,
            "foreign_key_column_names": [],
            "auto_increment_column_names": [],
            "charset_name": self.charset,
            "engine_name": self.engine,
            "vindex_name": "",
            "json_path": "",
            "check_constraint_name": "",
            "enum_value": "",
            "partitioning_type": "",
            "partition_name": "",
        }


def _qualified(table: dict[str, Any]) -> str:
    namespace = table.get("namespace") or ""
    return f"{namespace}.{table['name']}" if namespace else str(table["name"])


def lint(tables: list[dict[str, Any]], kind: str, keyspace: str = "") -> list[LintError]:
    errors: list[LintError] = []
    for table in tables:
        name = _qualified(table)
        if not table.get("strict_unique_keys"):
            errors.append(
                LintError(
                    "NO_UNIQUE_KEY",
                    name,
                    f"table {name} has no primary key or unique key on NOT NULL columns",
                    "no-unique-key",
                    keyspace,
                )
            )
        if kind != "mysql":
            continue
        charset = (table.get("charset") or "").lower()
        if charset and charset not in ALLOWED_CHARSETS:
            errors.append(
                LintError(
                    "INVALID_CHARSET",
                    name,
                    f"table {name} uses character set {charset}; use utf8mb4",
                    "invalid-charset",
                    keyspace,
                    charset=charset,
                )
            )
        engine = table.get("engine") or ""
        if engine and engine.lower() != "innodb":
            errors.append(
                LintError(
                    "UNSUPPORTED_ENGINE",
                    name,
                    f"table {name} uses the {engine} storage engine; use InnoDB",
                    "unsupported-feature",
                    keyspace,
                    engine=engine,
                )
            )
        types = {c[0]: str(c[1]).lower() for c in table.get("columns") or ()}
        for key in table.get("unique_keys") or ():
            for column in key:
                if types.get(column, "").startswith(BLOB_TYPES):
                    errors.append(
                        LintError(
                            "BLOB_IN_UNIQUE_KEY",
                            name,
                            f"column {column} of table {name} is a text/blob column in a "
                            "unique key",
                            "blob-in-unique-key",
                            keyspace,
                            column=column,
                        )
                    )
    return errors
