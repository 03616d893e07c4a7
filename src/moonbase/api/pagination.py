"""PlanetScale's page envelope: type, current_page, per_page, next/prev page and their URLs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request

MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Page:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page_params(
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 25,
) -> Page:
    return Page(page, per_page)


def envelope(
    request: Request, page: Page, items: list[Any], total: int, base_url: str
) -> dict[str, Any]:
    def url(n: int | None) -> str | None:
        if n is None:
            return None
        query = dict(request.query_params)
        query.update(page=str(n), per_page=str(page.per_page))
        return f"{base_url}{request.url.path}?{urlencode(query)}"

    next_page = page.page + 1 if page.offset + len(items) < total else None
    prev_page = page.page - 1 if page.page > 1 else None
    return {
        "type": "list",
        "current_page": page.page,
        "per_page": page.per_page,
        "next_page": next_page,
        "next_page_url": url(next_page),
        "prev_page": prev_page,
        "prev_page_url": url(prev_page),
        "data": items,
        "total_count": total,
        "total_pages": max(1, -(-total // page.per_page)),
    }


PageDep = Annotated[Page, Depends(page_params)]


def paginate(request: Request, page: Page, items: list[Any], base_url: str) -> dict[str, Any]:
    """Envelope for a list that is already complete in memory."""
    return envelope(
        request, page, items[page.offset : page.offset + page.per_page], len(items), base_url
    )
