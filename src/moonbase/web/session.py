"""Browser sessions of Moonbase's pages: a signed cookie, and CSRF tokens bound to it.

Each set of pages has its own cookie (:class:`CookieScope`): the OAuth consent pages
``moonbase_oauth`` on ``/oauth``, the web dashboard ``moonbase_dashboard`` on ``/``. The
cookie holds a random nonce, the signed-in user's id (or none yet) and an expiry, signed with
HMAC-SHA256 under a server-side key; it is HttpOnly, SameSite=Lax, limited to its scope's
path and Secure when Moonbase is served over HTTPS. Each form carries HMAC(key, nonce): a page
from another site cannot know it. Signing in replaces the nonce, so a session fixed before
sign-in is worthless after it. Both scopes share the key, but each signs for its own purpose,
so one scope's cookie or CSRF token is worthless in the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request, Response

from moonbase.settings import Settings

SIGNED_IN_TTL = 8 * 3600
ANONYMOUS_TTL = 3600
#: named after the consent pages, its first user; kept so existing sessions stay valid
KEY_FILE = "oauth-session.key"


@dataclass(frozen=True)
class BrowserSession:
    nonce: str
    user_id: str | None
    expires: int

    @classmethod
    def new(cls, user_id: str | None = None) -> BrowserSession:
        ttl = SIGNED_IN_TTL if user_id else ANONYMOUS_TTL
        return cls(secrets.token_urlsafe(24), user_id, int(time.time()) + ttl)


def _load_key(settings: Settings) -> bytes:
    if settings.oauth_session_secret:
        return hashlib.sha256(settings.oauth_session_secret.encode()).digest()
    path = Path(settings.home) / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < 32:
            raise RuntimeError(f"{path} is damaged: delete it to make a new key") from None
        return key
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def key(app: FastAPI) -> bytes:
    found: bytes | None = getattr(app.state, "browser_session_key", None)
    if found is None:
        found = _load_key(app.state.settings)
        app.state.browser_session_key = found
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, purpose: str, payload: str) -> str:
    return _b64(hmac.new(secret, f"{purpose}:{payload}".encode(), hashlib.sha256).digest())


def _secure(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.base_url.startswith("https://")


@dataclass(frozen=True)
class CookieScope:
    """One set of pages' session cookie: its name, the path it is sent to, and the label of
    what it signs (empty for the consent pages, whose signatures predate the label)."""

    cookie: str
    path: str
    label: str = ""

    def _purpose(self, what: str) -> str:
        return f"{self.label}:{what}" if self.label else what

    def read(self, request: Request) -> BrowserSession | None:
        """The session of the request's cookie; None when missing, forged or expired."""
        raw = request.cookies.get(self.cookie)
        if not raw or "." not in raw:
            return None
        payload, signature = raw.rsplit(".", 1)
        expected = _sign(key(request.app), self._purpose("session"), payload)
        if not hmac.compare_digest(signature, expected):
            return None
        try:
            data = json.loads(_unb64(payload))
            found = BrowserSession(str(data["n"]), data["u"], int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return found if found.expires > time.time() else None

    def write(self, request: Request, response: Response, session: BrowserSession) -> None:
        payload = _b64(
            json.dumps({"n": session.nonce, "u": session.user_id, "e": session.expires}).encode()
        )
        signature = _sign(key(request.app), self._purpose("session"), payload)
        response.set_cookie(
            self.cookie,
            f"{payload}.{signature}",
            max_age=max(0, session.expires - int(time.time())),
            path=self.path,
            httponly=True,
            samesite="lax",
            secure=_secure(request),
        )

    def clear(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            self.cookie, path=self.path, httponly=True, samesite="lax", secure=_secure(request)
        )

    def csrf_token(self, request: Request, session: BrowserSession) -> str:
        return _sign(key(request.app), self._purpose("csrf"), session.nonce)

    def csrf_ok(self, request: Request, session: BrowserSession | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        return hmac.compare_digest(token, self.csrf_token(request, session))


#: the OAuth consent pages (``/oauth/...``)
OAUTH = CookieScope("moonbase_oauth", "/oauth")
#: the web dashboard (``/``, ``/{org}/...``); API calls ignore cookies, so sending it there
#: gives nothing away
DASHBOARD = CookieScope("moonbase_dashboard", "/", "dashboard")
