"""Facts extracted from PlanetScale's OpenAPI spec (see scripts/extract_openapi_facts.py).

``openapi_facts.json`` sits next to this module and is generated, never edited
by hand. The returned structures are shared and cached: treat them as read-only.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import unquote

FACTS_FILE = "openapi_facts.json"

_PARAM = re.compile(r"\{([^{}/]+)\}")


@cache
def load_facts() -> dict[str, Any]:
    """The whole facts document (``operations`` keyed by operationId, ``base_path``, ...)."""
    text = resources.files(__package__).joinpath(FACTS_FILE).read_text(encoding="utf-8")
    facts: dict[str, Any] = json.loads(text)
    return facts


def operation(operation_id: str) -> dict[str, Any]:
    """Facts of one operation; KeyError naming the id if the spec has no such operation."""
    try:
        found: dict[str, Any] = load_facts()["operations"][operation_id]
        return found
    except KeyError:
        raise KeyError(f"no operation {operation_id!r} in the OpenAPI facts") from None


@cache
def _routes() -> tuple[tuple[str, re.Pattern[str], tuple[int, ...], str], ...]:
    """(method, compiled path regex, specificity key, operation_id) for every operation."""
    routes = []
    for op_id, op in load_facts()["operations"].items():
        segments = op["path"].strip("/").split("/")
        pattern = "".join(
            "/" + re.sub(r"\\\{([^{}/]+)\\\}", r"(?P<\1>[^/]+)", re.escape(seg)) for seg in segments
        )
        # Literal segments beat templated ones (/roles/default before /roles/{id}).
        specificity = tuple(1 if _PARAM.search(seg) else 0 for seg in segments)
        routes.append((op["method"], re.compile(pattern + r"\Z"), specificity, op_id))
    return tuple(routes)


def find_operation(method: str, concrete_path: str) -> tuple[str, dict[str, str]] | None:
    """Map a concrete request to ``(operation_id, path_params)``, or None if nothing matches.

    ``concrete_path`` may carry the ``/v1`` base path, a query string and a
    trailing slash; path parameter values are percent-decoded.
    """
    path = concrete_path.split("?", 1)[0].split("#", 1)[0]
    base = load_facts().get("base_path", "/v1").rstrip("/")
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :]
    if len(path) > 1:
        path = path.rstrip("/")
    if not path.startswith("/"):
        path = "/" + path
    method = method.upper()

    best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
    for route_method, regex, specificity, op_id in _routes():
        if route_method != method:
            continue
        match = regex.match(path)
        if match is None:
            continue
        if best is None or specificity < best[0]:
            params = {name: unquote(value) for name, value in match.groupdict().items()}
            best = (specificity, op_id, params)
    return None if best is None else (best[1], best[2])
