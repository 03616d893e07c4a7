"""Rate limits: at most ``rate_limit`` requests a minute per token (PlanetScale: 600).

Who is counted:

* a request with credentials counts against the credential it presents, i.e. for a valid
  token the token itself (a token has one credential; a wrong secret for a known token id
  is a different credential, so nobody can use up somebody else's allowance by guessing);
* a request without credentials (``/healthz``, the public ``GET /v1/regions``, the docs)
  counts against its remote address;
* a request whose credentials are refused (401) also counts against its address, and an
  address over the limit of refusals is refused (429) before its credentials are checked:
  guessing tokens is rate limited per address even though every guess is a new credential.

Over the limit the answer is 429 ``{"code": "rate_limited", "message": ...}`` with
``Retry-After`` (seconds, rounded up). The window slides: no 60 seconds ever see more than
the limit. Counts live in this process's memory: several Moonbase processes behind one
address each count their own, so the effective limit is the limit times the processes. The
remote address is the TCP peer: behind a reverse proxy every anonymous caller shares the
proxy's allowance. ``rate_limit = 0`` turns limits off.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moonbase.api.errors import error_response
from moonbase.ids import token_hash
from moonbase.settings import Settings

WINDOW = 60.0


class RateLimiter:
    """A sliding window per key: the times of the hits of the last ``window`` seconds."""

    def __init__(
        self, limit: int, window: float = WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._next_prune = 0.0

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def _wait(self, key: str, now: float) -> float | None:
        hits = self._hits.get(key)
        if hits is None:
            return None
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) < self.limit:
            return None
        return max(hits[0] + self.window - now, 0.001)

    def _prune(self, now: float) -> None:
        if now < self._next_prune:
            return
        self._next_prune = now + self.window
        stale = now - self.window
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= stale]:
            del self._hits[key]

    def blocked(self, key: str) -> float | None:
        """Seconds until ``key`` may make a request, or None if it may now (not counted)."""
        with self._lock:
            return self._wait(key, self.clock())

    def hit(self, key: str, *, force: bool = False) -> float | None:
        """Count a request of ``key`` unless it is over the limit: then the seconds to wait.
        ``force`` counts it regardless (a refusal that already happened)."""
        with self._lock:
            now = self.clock()
            self._prune(now)
            wait = self._wait(key, now)
            if wait is not None and not force:
                return wait
            self._hits.setdefault(key, deque()).append(now)
            return None


def credential_key(header: str | None) -> str | None:
    """A key for the credential in an Authorization header (a hash: no secret is kept in
    memory longer than the request); None when there is none to speak of."""
    value = (header or "").strip()
    if not value:
        return None
    if value[:7].lower() == "bearer ":
        token = value[7:].strip()
        return f"oauth:{token_hash(token)}" if token else None
    token_id, sep, secret = value.partition(":")
    if not sep or not token_id.strip() or not secret.strip():
        return None
    return f"token:{token_id.strip()}:{token_hash(secret.strip())}"


#: paths the API's limit does not apply to: SQL over HTTP (each call is a statement, and its
#: passwords are checked against the database's own rules, not the API's)
UNLIMITED_PREFIXES = ("/psdb.",)


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.limiter.enabled
            or scope["path"].startswith(UNLIMITED_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        credential = credential_key(Headers(scope=scope).get("authorization"))
        if credential is None:
            wait = self.limiter.hit(f"address:{address}")
        else:
            wait = self.limiter.blocked(f"refused:{address}") or self.limiter.hit(credential)
        if wait is not None:
            await self._too_many(wait, scope, receive, send)
            return
        status: dict[str, int] = {}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, send_status)
        if credential is not None and status.get("code") == 401:
            self.limiter.hit(f"refused:{address}", force=True)

    async def _too_many(self, wait: float, scope: Scope, receive: Receive, send: Send) -> None:
        seconds = max(1, math.ceil(wait))
        response = error_response(
            429,
            "rate_limited",
            f"Rate limit of {self.limiter.limit} requests per minute exceeded; "
            f"retry in {seconds} s",
        )
        response.headers["Retry-After"] = str(seconds)
        await response(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> RateLimiter:
    limiter = RateLimiter(settings.rate_limit)
    app.state.rate_limiter = limiter
    app.add_middleware(RateLimitMiddleware, limiter=limiter)
    return limiter
