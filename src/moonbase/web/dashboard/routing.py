"""Which paths the dashboard answers, and where it may send a browser after sign-in.

The pages live at ``/{organization}/...``, beside Moonbase's own paths (``/v1``, ``/oauth``,
``/healthz``, ``/docs`` ...). Those always win: a page route never matches a path whose first
segment is reserved (``tenancy.RESERVED_NAMES``) or is the first segment of any route the app
had before the dashboard was added, so an unknown API path still answers the API's JSON 404 and
a wrong method its 405, never a page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Match
from starlette.types import Scope

from moonbase.tenancy import RESERVED_NAMES

#: ``app.state`` attribute: the first path segments the pages never take
RESERVED_STATE = "dashboard_reserved"
#: the path parameter every page route starts with
FIRST = "organization"


def first_segments(app: FastAPI) -> frozenset[str]:
    """The fixed first path segments of the app's routes (``v1``, ``oauth``, ``healthz`` ...)."""
    found: set[str] = set()
    for context in iter_route_contexts(app.routes):
        segment = (context.path or "").lstrip("/").split("/", 1)[0]
        if segment and "{" not in segment:
            found.add(segment)
    return frozenset(found)


def reserve(app: FastAPI) -> frozenset[str]:
    """Call before adding the pages: what the app answers so far stays the app's."""
    reserved = RESERVED_NAMES | first_segments(app)
    setattr(app.state, RESERVED_STATE, reserved)
    return reserved


class DashboardRoute(APIRoute):
    """A page route; one that starts with ``/{organization}`` leaves reserved paths alone."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE or not self.path.startswith("/{" + FIRST + "}"):
            return match, child
        state = getattr(scope.get("app"), "state", None)
        reserved = getattr(state, RESERVED_STATE, RESERVED_NAMES)
        if child.get("path_params", {}).get(FIRST) in reserved:
            return Match.NONE, {}
        return match, child


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` when it is a path on this site (``/acme/shop?x=1``), else ``default``: never
    another site (``//evil.example``, ``/\\evil.example``, ``https://...``), whatever a browser
    would make of it after dropping tabs and newlines, and nothing that could break out of the
    Location header."""
    if not value or len(value) > 2048 or not value.startswith("/"):
        return default
    if value.startswith("//") or "\\" in value:
        return default
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return default  # browsers drop tabs and newlines: "/\t/evil" would be "//evil"
    return value


def sign_in_url(next_path: str) -> str:
    return "/sign-in?" + urlencode({"next": next_path})
