"""The ``html`` of the schema endpoint: the DDL, escaped, with SQL keywords marked up."""

from __future__ import annotations

import html
import re

KEYWORDS = (
    "ADD", "ALTER", "AS", "ASC", "AUTO_INCREMENT", "BEGIN", "BY", "CASCADE", "CHARSET", "CHECK",
    "COLLATE", "CONSTRAINT", "CREATE", "DEFAULT", "DELETE", "DESC", "ENGINE", "EXISTS",
    "FOREIGN", "FUNCTION", "IF", "INDEX", "KEY", "NOT", "NULL", "ON", "PRIMARY", "PROCEDURE",
    "REFERENCES", "RESTRICT", "SCHEMA", "SEQUENCE", "SET", "TABLE", "TRIGGER", "TYPE",
    "UNIQUE", "UPDATE", "USING", "VIEW", "WHERE", "WITH",
)  # fmt: skip
_WORD = re.compile(r"\b(" + "|".join(KEYWORDS) + r")\b", re.IGNORECASE)


def highlight(sql: str) -> str:
    escaped = html.escape(sql)
    marked = _WORD.sub(lambda m: f'<span class="k">{m.group(0)}</span>', escaped)
    return f'<pre class="sql">{marked}</pre>'
