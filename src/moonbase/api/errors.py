"""The one renderer: every error leaves as PlanetScale's ``{"code": ..., "message": ...}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from moonbase.errors import MoonbaseError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _describe(errors: list[dict]) -> tuple[int, str, str]:  # type: ignore[type-arg]
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "bad_request", "The request body is not valid JSON"
    if any(
        tuple(e.get("loc", ())) == ("body",)
        and e.get("type") in ("dict_type", "model_attributes_type", "model_type")
        for e in errors
    ):
        return 400, "bad_request", "The request body must be a JSON object"
    if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "missing" for e in errors):
        return 400, "bad_request", "A JSON request body is required"
    parts = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path")]
        where = ".".join(loc) or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return 422, "unprocessable", "Invalid parameters: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(MoonbaseError)
    async def _domain(_: Request, exc: MoonbaseError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(*_describe(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = "Not Found" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "Internal server error")
