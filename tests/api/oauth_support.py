"""Helpers for the OAuth tests: applications and people in the store, and a browser that goes
through the consent pages with a TestClient (``follow_redirects=False`` everywhere)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from moonbase.models import Membership, Organization, User
from moonbase.passwords import hash_password
from moonbase.resources.oauth import service

from api_support import ORG, org_path, store

REDIRECT = "https://client.example/callback"
PASSWORD = "correct horse battery staple"
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
APP_SCOPES = (
    "organization:read_databases",
    "organization:create_databases",
    "database:read_database",
    "user:read_user",
)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass(frozen=True)
class Client:
    id: str
    client_id: str
    secret: str


def add_person(app: FastAPI, email: str, role: str | None) -> str:
    """A user with PASSWORD; ``role`` in the organization (None: not a member)."""
    with store(app).tx() as s:
        user = User(
            email=email, name=email.partition("@")[0].title(), password_hash=hash_password(PASSWORD)
        )
        s.add(user)
        s.flush()
        if role is not None:
            org = s.scalar(select(Organization).where(Organization.name == ORG))
            assert org is not None
            s.add(Membership(organization_id=org.id, user_id=user.id, role=role))
        return user.id


def register(
    app: FastAPI, scopes: Sequence[str] = APP_SCOPES, redirect_uris: Sequence[str] = (REDIRECT,)
) -> Client:
    with store(app).tx() as s:
        org = s.scalar(select(Organization).where(Organization.name == ORG))
        assert org is not None
        made, secret = service.register_application(s, org, "Acme Dashboard", redirect_uris, scopes)
        return Client(made.id, made.client_id, secret)


def query(client: Client, scope: str | None = "organization:read_databases", **extra: str) -> str:
    params = {
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "st4te",
        **extra,
    }
    if scope is not None:
        params["scope"] = scope
    return urlencode(params)


def hidden(html: str) -> dict[str, str]:
    return {name: unescape(value) for name, value in _HIDDEN.findall(html)}


def location_params(response: Any) -> dict[str, str]:
    """The query of a redirect to the client (asserting it goes to REDIRECT)."""
    assert response.status_code in (302, 303), (response.status_code, response.text)
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in(api: TestClient, q: str, email: str = ALICE, password: str = PASSWORD) -> Any:
    """Sign in afresh (any earlier session forgotten) through the authorization page."""
    api.cookies.clear()
    page = api.get(f"/oauth/authorize?{q}", follow_redirects=False)
    assert page.status_code == 200, page.text
    assert 'action="/oauth/sign-in"' in page.text
    form = {**hidden(page.text), "email": email, "password": password}
    return api.post("/oauth/sign-in", data=form, follow_redirects=False)


def consent_page(api: TestClient, q: str, email: str = ALICE) -> Any:
    signed_in = sign_in(api, q, email)
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == f"/oauth/authorize?{q}"
    return api.get(signed_in.headers["location"], follow_redirects=False)


def decide(api: TestClient, page: Any, decision: str = "approve", **extra: str) -> Any:
    form = {**hidden(page.text), "decision": decision, **extra}
    return api.post("/oauth/authorize", data=form, follow_redirects=False)


def obtain_code(api: TestClient, q: str, email: str = ALICE, **extra: str) -> str:
    page = consent_page(api, q, email)
    assert page.status_code == 200, page.text
    params = location_params(decide(api, page, **extra))
    assert params["state"] == "st4te"
    return params["code"]


def token(api: TestClient, client: Client | None = None, **form: str) -> Any:
    if client is not None:
        form = {"client_id": client.client_id, "client_secret": client.secret, **form}
    return api.post("/oauth/token", data=form)


def exchange(api: TestClient, client: Client, code: str, **extra: str) -> Any:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    return token(api, client, **form)


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def apps_path(*rest: str) -> str:
    return "/".join([f"{org_path()}/oauth-applications", *rest])


def oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    """An RFC 6749 error from /oauth/token: exactly ``{"error", "error_description"}``."""
    assert response.status_code == status, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error, body
    assert response.headers.get("cache-control") == "no-store"
    return body
