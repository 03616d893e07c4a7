"""How a branch's schema differs from its parent's, table by table (``GET …/branches/{b}/diff``,
what ``pscale branch diff`` prints).

Each table that differs is one item, ``{"name", "raw", "html"}`` like the schema endpoint's:
``raw`` is the table's DDL as a line diff, every line prefixed by ``+`` (only in the branch),
``-`` (only in the parent) or a space (in both), so a new table is all ``+``, a dropped one all
``-``, and a changed one shows its whole statement with the changed lines marked. Tables are
matched by schema (PostgreSQL) and name; tables outside PostgreSQL's ``public`` schema are
named ``schema.table``. Both sides come from the reconciler's snapshots of the real servers,
whose DDL is already normalised (no AUTO_INCREMENT counters, stable ordering), so a fresh
branch shows no difference.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

_DEFAULT_NAMESPACES = ("", "public")


@dataclass(frozen=True)
class TableDiff:
    name: str
    raw: str
    html: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "raw": self.raw, "html": self.html}


def _key(table: dict[str, Any]) -> tuple[str, str]:
    return (str(table.get("namespace") or ""), str(table["name"]))


def _label(key: tuple[str, str]) -> str:
    namespace, name = key
    return name if namespace in _DEFAULT_NAMESPACES else f"{namespace}.{name}"


def _marked(before: list[str], after: list[str]) -> Iterator[str]:
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            yield from (f" {line}" for line in before[i1:i2])
            continue
        yield from (f"-{line}" for line in before[i1:i2])
        yield from (f"+{line}" for line in after[j1:j2])


_CLASSES = {"+": "added", "-": "removed", " ": "same"}


def _html(lines: Iterable[str]) -> str:
    spans = "\n".join(
        f'<span class="{_CLASSES[line[0]]}">{html.escape(line)}</span>' for line in lines
    )
    return f'<pre class="diff">{spans}</pre>'


def diff_tables(parent: list[dict[str, Any]], branch: list[dict[str, Any]]) -> list[TableDiff]:
    """The tables whose DDL differs between ``parent`` and ``branch`` (snapshot tables with
    ``name``, ``raw`` and, for PostgreSQL, ``namespace``), in name order."""
    before = {_key(t): str(t["raw"]) for t in parent}
    after = {_key(t): str(t["raw"]) for t in branch}
    found = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        lines = list(
            _marked(
                old.splitlines() if old is not None else [],
                new.splitlines() if new is not None else [],
            )
        )
        found.append(TableDiff(_label(key), "\n".join(lines), _html(lines)))
    return found
