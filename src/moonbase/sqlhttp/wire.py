"""What the HTTP SQL API sends: Vitess's JSON shapes for result fields, rows and errors.

PlanetScale's serverless driver (``@planetscale/database``) reads a result as Vitess encodes it
in JSON: each field with a Vitess type name (``INT32``, ``VARCHAR``, ``JSON`` ...), MySQL's
column flags and character set number; each row as the byte length of every value (``-1`` for
NULL) and the values' bytes, concatenated and base64-encoded; counters as decimal strings,
left out when zero (as protobuf's JSON leaves out zero values). SQL errors are a ``code`` (one
of Vitess's RPC codes) and a ``message`` carrying MySQL's error number.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any

from pymysql.constants import FIELD_TYPE, FLAG  # type: ignore[import-untyped]

BINARY_CHARSET = 63

_INTEGERS = {
    FIELD_TYPE.TINY: "INT8",
    FIELD_TYPE.SHORT: "INT16",
    FIELD_TYPE.INT24: "INT24",
    FIELD_TYPE.LONG: "INT32",
    FIELD_TYPE.LONGLONG: "INT64",
}
_FIXED = {
    FIELD_TYPE.FLOAT: "FLOAT32",
    FIELD_TYPE.DOUBLE: "FLOAT64",
    FIELD_TYPE.DECIMAL: "DECIMAL",
    FIELD_TYPE.NEWDECIMAL: "DECIMAL",
    FIELD_TYPE.TIMESTAMP: "TIMESTAMP",
    FIELD_TYPE.DATE: "DATE",
    FIELD_TYPE.NEWDATE: "DATE",
    FIELD_TYPE.TIME: "TIME",
    FIELD_TYPE.DATETIME: "DATETIME",
    FIELD_TYPE.YEAR: "YEAR",
    FIELD_TYPE.BIT: "BIT",
    FIELD_TYPE.JSON: "JSON",
    FIELD_TYPE.GEOMETRY: "GEOMETRY",
    FIELD_TYPE.NULL: "NULL",
    FIELD_TYPE.ENUM: "ENUM",
    FIELD_TYPE.SET: "SET",
}
_BLOBS = {FIELD_TYPE.TINY_BLOB, FIELD_TYPE.MEDIUM_BLOB, FIELD_TYPE.LONG_BLOB, FIELD_TYPE.BLOB}


def vitess_type(type_code: int, flags: int, charset: int) -> str:
    """The Vitess type name of a MySQL column (``sqltypes`` in Vitess)."""
    if type_code in _INTEGERS:
        return ("U" if flags & FLAG.UNSIGNED else "") + _INTEGERS[type_code]
    if type_code in _FIXED:
        return _FIXED[type_code]
    if flags & FLAG.ENUM:
        return "ENUM"
    if flags & FLAG.SET:
        return "SET"
    binary = charset == BINARY_CHARSET
    if type_code in _BLOBS:
        return "BLOB" if binary else "TEXT"
    if type_code == FIELD_TYPE.STRING:
        return "BINARY" if binary else "CHAR"
    return "VARBINARY" if binary else "VARCHAR"  # VARCHAR, VAR_STRING


def field_json(field: Any) -> dict[str, Any]:
    """One result column (a PyMySQL field descriptor) as Vitess's ``query.Field``."""
    found = {
        "name": field.name,
        "type": vitess_type(field.type_code, field.flags, field.charsetnr),
        "table": field.table_name,
        "orgTable": field.org_table,
        "database": field.db.decode() if isinstance(field.db, bytes) else field.db,
        "orgName": field.org_name,
        "columnLength": field.length,
        "charset": field.charsetnr,
        "decimals": field.scale,
        "flags": field.flags,
    }
    return {key: value for key, value in found.items() if value not in ("", 0, None)}


def row_json(values: Sequence[bytes | str | None]) -> dict[str, Any]:
    """One row as Vitess's ``query.Row``: byte lengths (``-1``: NULL), the bytes in base64."""
    raw = [v.encode() if isinstance(v, str) else v for v in values]
    return {
        "lengths": [str(-1 if v is None else len(v)) for v in raw],
        "values": base64.b64encode(b"".join(v for v in raw if v is not None)).decode(),
    }


def result_json(
    fields: Iterable[Any] | None,
    rows: Iterable[Sequence[bytes | str | None]],
    rows_affected: int,
    insert_id: int,
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if fields is not None:
        result["fields"] = [field_json(f) for f in fields]
        result["rows"] = [row_json(r) for r in rows]
    elif rows_affected > 0:
        result["rowsAffected"] = str(rows_affected)
    if insert_id > 0:
        result["insertId"] = str(insert_id)
    return result


#: MySQL error numbers and the Vitess RPC code Vitess answers them with
_CODES = {
    1062: "ALREADY_EXISTS",  # duplicate entry
    1050: "ALREADY_EXISTS",  # table exists
    1146: "NOT_FOUND",  # no such table
    1049: "NOT_FOUND",  # unknown database
    1044: "PERMISSION_DENIED",
    1045: "PERMISSION_DENIED",
    1142: "PERMISSION_DENIED",
    1143: "PERMISSION_DENIED",
    1227: "PERMISSION_DENIED",
    1370: "PERMISSION_DENIED",
    1290: "FAILED_PRECONDITION",  # read-only
    1040: "RESOURCE_EXHAUSTED",  # too many connections
    1205: "DEADLINE_EXCEEDED",  # lock wait timeout
    3024: "DEADLINE_EXCEEDED",  # max_statement_time
    1969: "DEADLINE_EXCEEDED",
    1213: "ABORTED",  # deadlock
    2006: "UNAVAILABLE",  # gone away
    2013: "UNAVAILABLE",  # lost connection
}
_INVALID = range(1048, 1300)  # the user's own errors (bad column, syntax, data) mostly lie here


def error_json(errno: int, message: str) -> dict[str, str]:
    code = _CODES.get(errno) or ("INVALID_ARGUMENT" if errno in _INVALID else "UNKNOWN")
    return {"code": code, "message": f"{message} (errno {errno})"}
