"""Vitess's JSON shapes as the HTTP SQL API writes them."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from pymysql.constants import FIELD_TYPE, FLAG

from moonbase.sqlhttp import wire


@pytest.mark.parametrize(
    ("type_code", "flags", "charset", "expected"),
    [
        (FIELD_TYPE.TINY, 0, 63, "INT8"),
        (FIELD_TYPE.TINY, FLAG.UNSIGNED, 63, "UINT8"),
        (FIELD_TYPE.LONGLONG, FLAG.UNSIGNED, 63, "UINT64"),
        (FIELD_TYPE.INT24, 0, 63, "INT24"),
        (FIELD_TYPE.DOUBLE, 0, 63, "FLOAT64"),
        (FIELD_TYPE.NEWDECIMAL, 0, 63, "DECIMAL"),
        (FIELD_TYPE.DATETIME, 0, 63, "DATETIME"),
        (FIELD_TYPE.VAR_STRING, 0, 45, "VARCHAR"),
        (FIELD_TYPE.VAR_STRING, FLAG.BINARY, 63, "VARBINARY"),
        (FIELD_TYPE.STRING, 0, 45, "CHAR"),
        (FIELD_TYPE.STRING, FLAG.ENUM, 45, "ENUM"),
        (FIELD_TYPE.STRING, FLAG.SET, 45, "SET"),
        (FIELD_TYPE.STRING, FLAG.BINARY, 63, "BINARY"),
        (FIELD_TYPE.BLOB, FLAG.BLOB, 45, "TEXT"),
        (FIELD_TYPE.BLOB, FLAG.BLOB | FLAG.BINARY, 63, "BLOB"),
        (FIELD_TYPE.JSON, 0, 45, "JSON"),
        (FIELD_TYPE.NULL, 0, 63, "NULL"),
        (FIELD_TYPE.BIT, 0, 63, "BIT"),
    ],
)
def test_vitess_type_names(type_code: int, flags: int, charset: int, expected: str) -> None:
    assert wire.vitess_type(type_code, flags, charset) == expected


def test_rows_are_byte_lengths_and_base64_bytes() -> None:
    row = wire.row_json([b"1", None, "café", b""])
    assert row["lengths"] == ["1", "-1", "5", "0"]
    assert base64.b64decode(row["values"]) == b"1caf\xc3\xa9"


def test_results_leave_zero_counters_out() -> None:
    field = SimpleNamespace(
        name="id", type_code=FIELD_TYPE.LONG, flags=FLAG.NOT_NULL | FLAG.PRI_KEY, charsetnr=63,
        table_name="t", org_table="t", db=b"app", org_name="id", length=11, scale=0,
    )  # fmt: skip
    selected = wire.result_json([field], [(b"3",)], rows_affected=1, insert_id=0)
    assert selected == {
        "fields": [
            {"name": "id", "type": "INT32", "table": "t", "orgTable": "t", "database": "app",
             "orgName": "id", "columnLength": 11, "charset": 63, "flags": 3}
        ],
        "rows": [{"lengths": ["1"], "values": "Mw=="}],
    }  # fmt: skip
    assert wire.result_json(None, (), rows_affected=2, insert_id=9) == {
        "rowsAffected": "2", "insertId": "9"}  # fmt: skip
    assert wire.result_json(None, (), rows_affected=0, insert_id=0) == {}


def test_errors_carry_vitess_codes_and_the_mysql_number() -> None:
    assert wire.error_json(1146, "Table 'a.b' doesn't exist") == {
        "code": "NOT_FOUND", "message": "Table 'a.b' doesn't exist (errno 1146)"}  # fmt: skip
    assert wire.error_json(1062, "dup")["code"] == "ALREADY_EXISTS"
    assert wire.error_json(1142, "denied")["code"] == "PERMISSION_DENIED"
    assert wire.error_json(1064, "syntax")["code"] == "INVALID_ARGUMENT"
    assert wire.error_json(2013, "lost")["code"] == "UNAVAILABLE"
    assert wire.error_json(4025, "constraint")["code"] == "UNKNOWN"
