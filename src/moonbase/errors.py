"""The domain error tree. Each error knows its HTTP status and PlanetScale error code.

    MoonbaseError
    ├── BadRequest            400 bad_request        body is not JSON / wrong types
    ├── Unauthorized          401 unauthorized       no or bad token
    ├── Forbidden             403 forbidden          the caller's role does not allow it
    ├── NotFound              404 not_found          missing, hidden (other org) or no access
    ├── Conflict              409 conflict           state does not allow the action
    └── Unprocessable         422 unprocessable      a field's value is not acceptable

Nothing here imports FastAPI: one renderer in ``moonbase.api.errors`` turns these into
``{"code": ..., "message": ...}`` responses.
"""

from __future__ import annotations


class MoonbaseError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message

    default_message = "Something went wrong"


class BadRequest(MoonbaseError):
    status = 400
    code = "bad_request"
    default_message = "Bad request"


class Unauthorized(MoonbaseError):
    status = 401
    code = "unauthorized"
    default_message = "Unauthorized: a valid service token or OAuth token is required"


class Forbidden(MoonbaseError):
    status = 403
    code = "forbidden"
    default_message = "Forbidden"


class NotFound(MoonbaseError):
    status = 404
    code = "not_found"
    default_message = "Not Found"


class Conflict(MoonbaseError):
    status = 409
    code = "conflict"
    default_message = "Conflict"


class Unprocessable(MoonbaseError):
    status = 422
    code = "unprocessable"
    default_message = "Unprocessable entity"


class TooManyRequests(MoonbaseError):
    status = 429
    code = "rate_limited"
    default_message = "Too many requests"
