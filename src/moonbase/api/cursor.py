"""PlanetScale's cursor pagination (large, growing lists such as the audit log).

Query ``starting_after`` / ``ending_before`` (the id of an item) and ``limit`` (default 25,
at most 100); envelope ``{"type": "list", "has_next", "has_prev", "cursor_start",
"cursor_end", "data"}``. "After" and "next" follow the list's order (newest first for the
audit log): ``starting_after=<cursor_end>`` is the next page, ``ending_before=<cursor_start>``
the previous one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from moonbase.errors import Unprocessable

MAX_LIMIT = 100
DEFAULT_LIMIT = 25


@dataclass(frozen=True)
class Cursor:
    starting_after: str | None
    ending_before: str | None
    limit: int

    @property
    def backwards(self) -> bool:
        return self.ending_before is not None

    @property
    def anchor(self) -> str | None:
        return self.ending_before if self.backwards else self.starting_after


def cursor_params(
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
    ending_before: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Cursor:
    if starting_after and ending_before:
        raise Unprocessable("Give starting_after or ending_before, not both")
    return Cursor(starting_after or None, ending_before or None, limit)


CursorDep = Annotated[Cursor, Depends(cursor_params)]


@dataclass(frozen=True)
class CursorPage:
    """One page in list order, and whether items exist before and after it."""

    items: list[Any]
    has_prev: bool
    has_next: bool


def cursor_envelope(page: CursorPage, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "list",
        "has_next": page.has_next,
        "has_prev": page.has_prev,
        "cursor_start": data[0]["id"] if data else None,
        "cursor_end": data[-1]["id"] if data else None,
        "data": data,
    }
