"""The authorization-code flow outside /v1: the consent pages and the token endpoint.

GET  /oauth/authorize   validate the request; sign-in form, or the consent page
POST /oauth/sign-in     email + password of a Moonbase user -> session cookie
POST /oauth/authorize   allow -> redirect_uri?code=...&state=...; deny -> error=access_denied
POST /oauth/sign-out    forget the session, back to the sign-in form
POST /oauth/token       RFC 6749 token endpoint (form-encoded): authorization_code and
                        refresh_token grants; errors as {"error", "error_description"}
POST /oauth/revoke      RFC 7009 revocation of an access or refresh token by its client
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from moonbase.errors import Unprocessable
from moonbase.ids import token_hash
from moonbase.models import User
from moonbase.resources.oauth import authorization, repository, scopes, service
from moonbase.store.db import Store
from moonbase.web.forms import Form, FormDep, posted_session, signing_in
from moonbase.web.oauth import pages
from moonbase.web.pages import see_other
from moonbase.web.session import OAUTH as browser
from moonbase.web.session import BrowserSession

router = APIRouter(prefix="/oauth", include_in_schema=False)

def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def _authorize_url(query: str) -> str:
    return f"/oauth/authorize?{query}"


def _show(
    request: Request,
    db: Session,
    auth: authorization.AuthorizationRequest,
    bs: BrowserSession,
) -> Response:
    """The sign-in form, or the consent page for the signed-in user."""
    app = auth.application
    org = repository.organization(db, app.organization_id)
    user = db.get(User, bs.user_id) if bs.user_id else None
    csrf = browser.csrf_token(request, bs)
    if user is None:
        response: Response = pages.sign_in_page(app, org, csrf, auth.query)
    else:
        problem = authorization.consent_problem(db, auth, user)
        dbs = repository.databases(db, org.id)
        response = pages.consent_page(app, org, user, auth.scopes, dbs, csrf, auth.query, problem)
    browser.write(request, response, bs)
    return response


def _parse(db: Session, query: str) -> authorization.AuthorizationRequest | Response:
    try:
        return authorization.parse_authorization(db, query)
    except authorization.UntrustedClient as exc:
        return pages.error_page("This application cannot be authorized", str(exc))
    except authorization.RedirectableError as exc:
        return see_other(exc.location)


@router.get("/authorize")
def authorize(request: Request) -> Response:
    with _store(request).tx() as db:
        auth = _parse(db, request.url.query)
        if isinstance(auth, Response):
            return auth
        bs = browser.read(request)
        if bs is not None and bs.user_id and db.get(User, bs.user_id) is None:
            bs = None  # the user is gone
        return _show(request, db, auth, bs or BrowserSession.new())


def _expired_form() -> Response:
    return pages.error_page(
        "The form has expired",
        "Go back to the application and start again (or reload the sign-in page).",
        403,
    )


@router.post("/sign-in")
def sign_in(request: Request, form: FormDep) -> Response:
    query = form.get("authorize_query", "")
    bs = posted_session(request, form, browser)
    if bs is None:
        return _expired_form()
    with _store(request).tx() as db:
        auth = _parse(db, query)
        if isinstance(auth, Response):
            return auth
        email = form.get("email", "").strip()
        user = signing_in(db, email, form.get("password", ""))
        if user is None:
            org = repository.organization(db, auth.application.organization_id)
            csrf = browser.csrf_token(request, bs)
            return pages.sign_in_page(
                auth.application, org, csrf, query, email, "Wrong email or password", 401
            )
        response = see_other(_authorize_url(query))
        browser.write(request, response, BrowserSession.new(user.id))
        return response


@router.post("/authorize")
def decide(request: Request, form: FormDep) -> Response:
    query = form.get("authorize_query", "")
    bs = posted_session(request, form, browser)
    if bs is None:
        return _expired_form()
    with _store(request).tx() as db:
        auth = _parse(db, query)
        if isinstance(auth, Response):
            return auth
        user = db.get(User, bs.user_id) if bs.user_id else None
        if user is None:
            return _show(request, db, auth, BrowserSession.new())
        decision = form.get("decision")
        if decision == "deny":
            denied = {"error": "access_denied", "error_description": "The user denied access"}
            return see_other(
                authorization.redirect_with(auth.redirect_uri, {**denied, "state": auth.state})
            )
        if decision != "approve":
            return pages.error_page("Unknown decision", "Choose Allow or Deny.")
        database_id = form.get("database") or None
        if not scopes.needs_database(auth.scopes):
            database_id = None
        try:
            code = authorization.grant_code(db, auth, user, database_id)
        except Unprocessable as exc:
            return pages.error_page("Access cannot be granted", exc.message, 403)
        return see_other(
            authorization.redirect_with(auth.redirect_uri, {"code": code, "state": auth.state})
        )


@router.post("/sign-out")
def sign_out(request: Request, form: FormDep) -> Response:
    query = form.get("authorize_query", "")
    if posted_session(request, form, browser) is None:
        return _expired_form()
    response = see_other(_authorize_url(query))
    browser.clear(request, response)
    return response


# --- the token endpoint -------------------------------------------------------------------


def _token_error(error: str, description: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    status = 401 if error == "invalid_client" else 400
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Moonbase OAuth"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """RFC 6749 2.3.1: ``Basic base64(urlencoded(id):urlencoded(secret))``."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


def _client(request: Request, form: Form) -> tuple[str, str] | JSONResponse:
    """The client's id and secret (HTTP Basic or form fields, RFC 6749 2.3.1), or the error
    answer when the request is malformed or carries none."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return _token_error("invalid_request", "Send application/x-www-form-urlencoded")
    if form.problem:
        return _token_error("invalid_request", form.problem)
    basic = _basic_credentials(request.headers.get("authorization"))
    if basic is not None and (
        "client_secret" in form or "client_id" in form and basic[0] != form["client_id"]
    ):
        return _token_error("invalid_request", "Use one way of client authentication")
    client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
    if not client_id or not secret:
        return _token_error("invalid_client", "Client authentication is required")
    return client_id, secret


@router.post("/token")
def token(request: Request, form: FormDep) -> Response:
    client = _client(request, form)
    if isinstance(client, JSONResponse):
        return client
    client_id, secret = client
    body: dict[str, Any] | None = None
    failure: service.GrantError | None = None
    with _store(request).tx() as db:
        try:
            app = service.authenticate_client(db, client_id, secret)
            issued = service.grant(db, app, form.get("grant_type", ""), dict(form))
            body = service.token_response(issued)
        except service.GrantError as exc:
            failure = exc  # committed all the same: a reused code's token stays revoked
    if failure is not None or body is None:
        assert failure is not None
        return _token_error(failure.error, failure.description)
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.post("/revoke")
def revoke(request: Request, form: FormDep) -> Response:
    """RFC 7009: the client revokes one of its access or refresh tokens (either revokes both).
    An unknown or already revoked token is not an error (200 all the same); a token issued to
    another client is refused."""
    client = _client(request, form)
    if isinstance(client, JSONResponse):
        return client
    value = form.get("token", "")
    if not value:
        return _token_error("invalid_request", "token is required")
    with _store(request).tx() as db:
        try:
            app = service.authenticate_client(db, *client)
        except service.GrantError as exc:
            return _token_error(exc.error, exc.description)
        found = repository.token_by_hash(db, token_hash(value))
        if found is not None and found.application_id != app.id:
            return _token_error("unauthorized_client", "The token was issued to another client")
        if found is not None:
            service.revoke(db, found)
    return Response(status_code=200, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
