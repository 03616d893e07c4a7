#!/usr/bin/env python3
"""Extract the machine-checkable facts of the PlanetScale OpenAPI spec into JSON.

The test suite has to run where the upstream spec is not available, so the
project carries a stripped copy of the facts it relies on:

* per operation (keyed by ``operationId``): HTTP method, templated path, tags,
  parameters, request-body schema, response schemas by status code, and the
  authorization facts parsed from the operation's ``### Authorization``
  section (service-token accesses and OAuth scopes by resource level);
* top level: the server base path and the OAuth scope names declared in
  ``components.securitySchemes``.

Only facts are kept: every ``description``, ``summary``, ``title``, example and
``x-`` extension is dropped, and schemas keep only validation keywords.

Usage (from the repository root)::

    python scripts/extract_openapi_facts.py            # write the default output
    python scripts/extract_openapi_facts.py --check    # exit 1 if the output is stale

The output is deterministic: same spec in, byte-identical JSON out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO_ROOT.parent / "shared" / "reference" / "planetscale-openapi.yaml"
DEFAULT_OUTPUT = REPO_ROOT / "src" / "moonbase" / "contract" / "openapi_facts.json"

FORMAT_VERSION = 1

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Schema keywords that carry facts. Everything else is prose or tooling noise.
SCHEMA_KEEP = frozenset(
    {
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "nullable",
        "format",
        "additionalProperties",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "multipleOf",
        "default",
        "oneOf",
        "anyOf",
        "allOf",
        "not",
        "discriminator",
        "readOnly",
        "writeOnly",
    }
)
# Keywords that are dropped on purpose (no warning).
SCHEMA_DROP = frozenset({"description", "title", "example", "examples", "externalDocs", "xml"})

RESOURCE_LEVELS = ("organization", "database", "branch", "user")


# --------------------------------------------------------------------------- YAML


# libyaml's parser when available (same results, ~10x faster); pure Python otherwise.
_BaseSafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12Loader(_BaseSafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars.

    PyYAML implements YAML 1.1, where bare ``on``/``off``/``yes``/``no`` are
    booleans and ``12:30`` is a base-60 integer. OpenAPI documents are meant to
    be read as YAML 1.2; the PlanetScale spec has ``enum: [off, warn, on]``
    lists that PyYAML 1.1 would turn into ``[False, "warn", True]``.
    """


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag
        not in (
            "tag:yaml.org,2002:bool",
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
            "tag:yaml.org,2002:timestamp",
        )
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


def load_spec(path: Path) -> dict[str, Any]:
    with path.open("r", encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader


# --------------------------------------------------------------------------- schemas


class _Stripper:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.unknown: dict[str, set[str]] = {}

    def resolve(self, node: Any, where: str, seen: tuple[str, ...] = ()) -> tuple[Any, tuple]:
        """Follow ``$ref`` chains (local JSON pointers only)."""
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise ValueError(f"{where}: unsupported $ref {ref!r}")
            if ref in seen:
                raise ValueError(f"{where}: recursive $ref {ref!r} cannot be inlined")
            seen = seen + (ref,)
            target: Any = self.spec
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target[part]
            node = target
        return node, seen

    def schema(self, node: Any, where: str, seen: tuple[str, ...] = ()) -> Any:
        node, seen = self.resolve(node, where, seen)
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            raise ValueError(f"{where}: schema is not an object: {node!r}")
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in SCHEMA_DROP or key.startswith("x-"):
                continue
            if key not in SCHEMA_KEEP:
                self.unknown.setdefault(key, set()).add(where)
                continue
            if key == "properties":
                out[key] = {
                    name: self.schema(sub, f"{where}.{name}", seen) for name, sub in value.items()
                }
            elif key in ("items", "not"):
                out[key] = self.schema(value, f"{where}[]", seen)
            elif key == "additionalProperties":
                out[key] = (
                    value if isinstance(value, bool) else self.schema(value, f"{where}{{*}}", seen)
                )
            elif key in ("oneOf", "anyOf", "allOf"):
                out[key] = [
                    self.schema(sub, f"{where}<{key}:{i}>", seen) for i, sub in enumerate(value)
                ]
            else:
                out[key] = value
        return out


# --------------------------------------------------------------------------- authorization

_AUTH_HEADING = re.compile(r"^#+\s*Authorization\s*$", re.M)
_TOKEN_HEADING = "**Service Token Accesses**"
_OAUTH_HEADING = "**OAuth Scopes**"
_TICKED = re.compile(r"`([^`]+)`")
_TABLE_ROW = re.compile(r"^\s*\|\s*([^|]+?)\s*\|\s*(.*?)\s*\|\s*$")


def parse_authorization(description: str | None, where: str) -> dict[str, Any]:
    """Parse the ``### Authorization`` section of an operation description."""
    scopes: dict[str, list[str]] = {level: [] for level in RESOURCE_LEVELS}
    result: dict[str, Any] = {
        "auth_documented": False,
        "token_accesses": [],
        "oauth_scopes": scopes,
    }
    if not description:
        return result
    match = _AUTH_HEADING.search(description)
    if match is None:
        return result
    result["auth_documented"] = True
    section = description[match.end() :]
    nxt = re.search(r"^#+\s", section, re.M)  # stop at a following heading, if any
    if nxt:
        section = section[: nxt.start()]

    lines = section.splitlines()
    mode: str | None = None
    for line in lines:
        stripped = line.strip()
        if stripped == _TOKEN_HEADING:
            mode = "token"
            continue
        if stripped == _OAUTH_HEADING:
            mode = "oauth"
            continue
        if not stripped:
            continue
        if mode == "token":
            names = _TICKED.findall(stripped)
            if names:
                result["token_accesses"].extend(names)
            else:
                mode = None
        elif mode == "oauth":
            row = _TABLE_ROW.match(line)
            if not row:
                continue
            resource, cell = row.group(1).strip(), row.group(2)
            if resource.lower() == "resource" or set(resource) <= set(":- "):
                continue  # header or separator row
            level = resource.lower()
            if level not in scopes:
                raise ValueError(f"{where}: unknown OAuth resource level {resource!r}")
            for name in _TICKED.findall(cell):
                if name not in scopes[level]:
                    scopes[level].append(name)
    if len(set(result["token_accesses"])) != len(result["token_accesses"]):
        raise ValueError(f"{where}: duplicate service token accesses")
    return result


# --------------------------------------------------------------------------- operations


def _parameter(stripper: _Stripper, param: dict[str, Any], where: str) -> dict[str, Any]:
    param, _ = stripper.resolve(param, where)
    out: dict[str, Any] = {
        "name": param["name"],
        "in": param["in"],
        "required": bool(param.get("required", param["in"] == "path")),
        "schema": stripper.schema(param.get("schema", {}), f"{where}:{param['name']}"),
    }
    for key in ("style", "explode", "allowEmptyValue", "deprecated"):
        if key in param:
            out[key] = param[key]
    return out


def _json_schema_of(stripper: _Stripper, holder: dict[str, Any], where: str) -> Any:
    """Schema of the application/json content of a request body or response."""
    content = holder.get("content") or {}
    if not content:
        return None
    media = content.get("application/json")
    if media is None:
        # Fall back to the only declared media type; flag it in the output.
        if len(content) != 1:
            raise ValueError(f"{where}: several non-JSON media types {sorted(content)}")
        media = next(iter(content.values()))
    if "schema" not in media:
        return None
    return stripper.schema(media["schema"], where)


def build_facts(spec_path: Path) -> dict[str, Any]:
    raw = spec_path.read_bytes()
    spec = load_spec(spec_path)
    stripper = _Stripper(spec)

    servers = [s["url"] for s in spec.get("servers", [])]
    base_paths = sorted({urlsplit(url).path.rstrip("/") for url in servers})
    if len(base_paths) != 1:
        raise ValueError(f"expected exactly one server base path, got {base_paths}")

    oauth_scope_names: list[str] = []
    for _name, scheme in sorted((spec.get("components", {}).get("securitySchemes") or {}).items()):
        scheme, _ = stripper.resolve(scheme, "securitySchemes")
        for _flow_name, flow in sorted((scheme.get("flows") or {}).items()):
            for scope in flow.get("scopes") or {}:
                if scope not in oauth_scope_names:
                    oauth_scope_names.append(scope)

    operations: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        item, _ = stripper.resolve(item, path)
        shared_params = item.get("parameters") or []
        for method in HTTP_METHODS:
            op = item.get(method)
            if op is None:
                continue
            op_id = op["operationId"]
            if op_id in operations:
                raise ValueError(f"duplicate operationId {op_id}")

            params: dict[tuple[str, str], dict[str, Any]] = {}
            for p in list(shared_params) + list(op.get("parameters") or []):
                fact = _parameter(stripper, p, f"{op_id}.parameters")
                params[(fact["in"], fact["name"])] = fact  # operation level overrides

            request_body = None
            if op.get("requestBody"):
                rb, _ = stripper.resolve(op["requestBody"], f"{op_id}.requestBody")
                request_body = _json_schema_of(stripper, rb, f"{op_id}.requestBody")
                request_body_required = bool(rb.get("required", False))
            else:
                request_body_required = False

            responses: dict[str, Any] = {}
            for status, resp in (op.get("responses") or {}).items():
                resp, _ = stripper.resolve(resp, f"{op_id}.responses.{status}")
                responses[str(status)] = _json_schema_of(
                    stripper, resp, f"{op_id}.responses.{status}"
                )

            fact = {
                "method": method.upper(),
                "path": path,
                "tags": list(op.get("tags") or []),
                "parameters": list(params.values()),
                "request_body": request_body,
                "request_body_required": request_body_required,
                "responses": responses,
            }
            if op.get("deprecated"):
                fact["deprecated"] = True
            if "security" in op:
                fact["security"] = op["security"]
            fact.update(parse_authorization(op.get("description"), op_id))
            operations[op_id] = fact

    if stripper.unknown:
        for key, wheres in sorted(stripper.unknown.items()):
            sample = ", ".join(sorted(wheres)[:3])
            print(
                f"warning: dropped unknown schema keyword {key!r} ({len(wheres)}x, e.g. {sample})",
                file=sys.stderr,
            )

    return {
        "format_version": FORMAT_VERSION,
        "source": {
            "file": spec_path.name,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "openapi": str(spec.get("openapi")),
            "api_version": str((spec.get("info") or {}).get("version")),
        },
        "servers": servers,
        "base_path": base_paths[0],
        "security": spec.get("security") or [],
        "oauth_scope_names": oauth_scope_names,
        "tags": [t["name"] for t in spec.get("tags") or []],
        "operation_count": len(operations),
        "operations": operations,
    }


RENDER_WIDTH = 100


def _dumps(node: Any, indent: int, prefix_len: int) -> str:
    """Sorted-key JSON, one space per level, small nodes kept on one line.

    A container is written on a single line when that line (indentation, key
    and value) fits in RENDER_WIDTH columns, otherwise one member per line.
    That keeps leaf schemas such as ``{"nullable": true, "type": "string"}``
    compact while a change to a field still shows up as a one-line diff.
    """
    flat = json.dumps(node, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
    if (
        not isinstance(node, dict | list)
        or not node
        or indent + prefix_len + len(flat) <= RENDER_WIDTH
    ):
        return flat
    pad = " " * (indent + 1)
    if isinstance(node, dict):
        parts = []
        for key in sorted(node):
            key_json = json.dumps(key, ensure_ascii=False) + ": "
            parts.append(pad + key_json + _dumps(node[key], indent + 1, len(key_json)))
        return "{\n" + ",\n".join(parts) + "\n" + " " * indent + "}"
    parts = [pad + _dumps(item, indent + 1, 0) for item in node]
    return "[\n" + ",\n".join(parts) + "\n" + " " * indent + "]"


def render(facts: dict[str, Any]) -> str:
    text = _dumps(facts, 0, 0) + "\n"
    assert json.loads(text) == facts  # the layout must never change the data
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--spec",
        type=Path,
        default=DEFAULT_SPEC,
        help=f"OpenAPI YAML input (default: {DEFAULT_SPEC})",
    )
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"JSON output (default: {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the output file differs from a fresh extraction",
    )
    args = parser.parse_args(argv)

    text = render(build_facts(args.spec))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"{args.output} is out of date; rerun {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text.encode())} bytes, {text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
