"""The branch diff's table-by-table line diff (what pscale branch diff prints)."""

from __future__ import annotations

from typing import Any

from moonbase.schema.diff import diff_tables


def table(name: str, raw: str, namespace: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "raw": raw, "strict_unique_keys": []}
    if namespace is not None:
        found["namespace"] = namespace
    return found


ORDERS = "CREATE TABLE orders (\n  id int,\n  total int,\n  PRIMARY KEY (id)\n)"


def test_the_same_schema_has_no_difference() -> None:
    assert diff_tables([table("orders", ORDERS)], [table("orders", ORDERS)]) == []
    assert diff_tables([], []) == []


def test_added_dropped_and_changed_tables_in_name_order() -> None:
    changed = ORDERS.replace("  total int,\n", "  total bigint,\n  note text,\n")
    found = diff_tables(
        [table("orders", ORDERS), table("gone", "CREATE TABLE gone (\n  id int\n)")],
        [table("orders", changed), table("added", "CREATE TABLE added (id int)")],
    )
    assert [d.name for d in found] == ["added", "gone", "orders"]
    added, gone, orders = found
    assert added.raw == "+CREATE TABLE added (id int)"
    assert gone.raw.splitlines() == ["-CREATE TABLE gone (", "-  id int", "-)"]
    assert orders.raw.splitlines() == [
        " CREATE TABLE orders (",
        "   id int,",
        "-  total int,",
        "+  total bigint,",
        "+  note text,",
        "   PRIMARY KEY (id)",
        " )",
    ]
    assert orders.to_json() == {"name": "orders", "raw": orders.raw, "html": orders.html}


def test_postgresql_schemas_keep_tables_apart_and_name_them() -> None:
    raw = "CREATE TABLE t (id int)"
    found = diff_tables(
        [table("t", raw, "public")],
        [table("t", raw, "public"), table("t", raw, "audit")],
    )
    assert [(d.name, d.raw) for d in found] == [("audit.t", f"+{raw}")]


def test_html_is_escaped_and_marks_each_line() -> None:
    (found,) = diff_tables([], [table("a<b", "CREATE TABLE `a<b` (x int DEFAULT '&')")])
    assert found.html == (
        '<pre class="diff"><span class="added">+CREATE TABLE `a&lt;b` '
        "(x int DEFAULT &#x27;&amp;&#x27;)</span></pre>"
    )
