"""Check response bodies against PlanetScale's OpenAPI contract (helper module for tests).

The schemas come from ``moonbase.contract.facts`` (the committed extract of the
spec), so this works without the upstream YAML.

    from contract import assert_matches_spec
    assert_matches_spec("get_database", 200, response.json())

Strict on: the status being declared by the operation, required properties,
types (``nullable`` honoured), enums, numeric bounds, and
``additionalProperties: false`` where the spec says so. Extra properties are
otherwise allowed, as the spec allows them. ``format`` is not asserted (the
spec only uses it as a hint).

Statuses the spec declares without a body (every error status, 204, and two
metrics endpoints' 200) carry no schema: a 204 must have an empty body, the
others are not checked beyond the status being declared.
"""

from __future__ import annotations

import copy
import reprlib
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from moonbase.contract.facts import operation

__all__ = [
    "assert_matches_spec",
    "json_schema",
    "openapi_to_json_schema",
    "response_schema",
    "spec_errors",
]

_SUBSCHEMA_LISTS = ("oneOf", "anyOf", "allOf")
_DROP = frozenset({"nullable", "discriminator", "example", "examples", "xml", "externalDocs"})

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = 4
_short.maxdict = 4
_short.maxlevel = 2


def openapi_to_json_schema(schema: Any) -> Any:
    """Convert an OpenAPI 3.0 schema object to JSON Schema (Draft 2020-12)."""
    if schema is None or isinstance(schema, bool):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: openapi_to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "not", "additionalProperties"):
            out[key] = openapi_to_json_schema(value)
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [openapi_to_json_schema(sub) for sub in value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            # OpenAPI 3.0: boolean modifier of minimum/maximum; JSON Schema: a number.
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if isinstance(value, bool):
                if value and bound in schema:
                    out[key] = schema[bound]
            else:
                out[key] = value
        else:
            out[key] = copy.deepcopy(value)
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        bound = "minimum" if key == "exclusiveMinimum" else "maximum"
        if schema.get(key) is True and bound in schema:
            out.pop(bound, None)

    if schema.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"] if "null" not in types else types
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif any(k in out for k in _SUBSCHEMA_LISTS):
            out = {"anyOf": [out, {"type": "null"}]}
        # no type and no composition: anything goes already, null included
    return out


def _declared(operation_id: str, status: int | str) -> dict[str, Any]:
    op = operation(operation_id)
    responses = op["responses"]
    if str(status) not in responses:
        raise AssertionError(
            f"{operation_id} ({op['method']} {op['path']}) does not declare status {status}; "
            f"declared: {', '.join(sorted(responses))}"
        )
    return responses


def response_schema(operation_id: str, status: int | str) -> Any:
    """The spec's (stripped OpenAPI 3.0) response schema, or None when it declares no body.

    Raises AssertionError if the operation does not declare ``status`` at all.
    """
    return _declared(operation_id, status)[str(status)]


@cache
def _validator(operation_id: str, status: str) -> Draft202012Validator | None:
    schema = openapi_to_json_schema(response_schema(operation_id, status))
    if schema is None:
        return None
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def json_schema(operation_id: str, status: int | str) -> Any:
    """The JSON Schema (Draft 2020-12) the body of ``status`` is validated against, or None."""
    validator = _validator(operation_id, str(status))
    return None if validator is None else validator.schema


def _where(error: ValidationError) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def _describe(error: ValidationError) -> str:
    kind, inst = error.validator, error.instance
    if kind == "type":
        got = _type_name(inst) if inst is None else f"{_type_name(inst)} {_short.repr(inst)}"
        return f"expected {error.validator_value}, got {got}"
    if kind == "enum":
        return f"{_short.repr(inst)} is not one of {error.validator_value}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{_short.repr(inst)} violates {kind} {error.validator_value}"
    if kind in ("required", "additionalProperties"):
        return error.message
    if kind in ("oneOf", "anyOf") and error.context:
        best = sorted(error.context, key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
        subs = "; ".join(f"{_where(e)}: {_describe(e)}" for e in best[:3])
        return f"matches no alternative of {kind} ({subs})"
    message = error.message
    return message if len(message) <= 200 else message[:197] + "..."


def spec_errors(operation_id: str, status: int | str, body: Any) -> list[str]:
    """Every mismatch between ``body`` and the spec, as ``"$.path: message"`` strings."""
    _declared(operation_id, status)
    validator = _validator(operation_id, str(status))
    if validator is None:
        if str(status) == "204" and body not in (None, "", b""):
            return [f"$: 204 must have no body, got {_type_name(body)} {_short.repr(body)}"]
        return []
    errors = sorted(
        validator.iter_errors(body),
        key=lambda e: ([str(p) for p in e.absolute_path], str(e.validator)),
    )
    return [f"{_where(e)}: {_describe(e)}" for e in errors]


def assert_matches_spec(operation_id: str, status: int, body: Any) -> None:
    """Assert ``body`` is a valid ``status`` response of ``operation_id`` per the spec.

    The AssertionError lists every mismatch, one per line, with its location in the body.
    """
    problems = spec_errors(operation_id, status, body)
    if problems:
        op = operation(operation_id)
        header = (
            f"{operation_id} ({op['method']} {op['path']}) {status} response does not match "
            f"the spec: {len(problems)} problem(s)"
        )
        raise AssertionError("\n  ".join([header, *problems]))
