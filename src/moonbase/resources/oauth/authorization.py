"""Authorization requests (``GET /oauth/authorize``), consent, and the codes it ends with.

GrantError                       (service.py)
└── RedirectableError            an authorization-request error the client hears about
                                 at its (already validated) redirect URI
UntrustedClient                  unknown client_id or a redirect URI not registered:
                                 the browser is never sent there (RFC 6749 4.1.2.1)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.orm import Session

from moonbase.errors import Unprocessable
from moonbase.ids import new_secret, token_hash, utcnow
from moonbase.models import OAuthApplication, OAuthAuthorizationCode, User
from moonbase.resources.oauth import repository, scopes
from moonbase.resources.oauth.service import GrantError

CODE_TTL = timedelta(minutes=10)
CODE_PREFIX = "pscale_code_"
_PKCE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


class RedirectableError(GrantError):
    def __init__(self, error: str, description: str, redirect_uri: str, state: str | None):
        super().__init__(error, description)
        self.redirect_uri = redirect_uri
        self.state = state

    @property
    def location(self) -> str:
        return redirect_with(
            self.redirect_uri,
            {"error": self.error, "error_description": self.description, "state": self.state},
        )


class UntrustedClient(Exception):
    pass


@dataclass(frozen=True)
class AuthorizationRequest:
    application: OAuthApplication
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None = None
    #: the original query string, carried through the sign-in and consent forms
    query: str = field(default="", compare=False)


def redirect_with(uri: str, params: Mapping[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def parse_authorization(session: Session, query: str) -> AuthorizationRequest:
    """Validate ``GET /oauth/authorize``'s parameters, client and redirect URI first."""
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params.setdefault(key, []).append(value)

    def one(name: str) -> str | None:
        values = params.get(name, [])
        if len(values) > 1:
            raise ValueError(name)
        return values[0] if values else None

    try:
        client_id, redirect_uri = one("client_id"), one("redirect_uri")
    except ValueError as exc:
        raise UntrustedClient(f"The parameter {exc} is given more than once") from None
    app = repository.application_by_client_id(session, client_id) if client_id else None
    if app is None:
        raise UntrustedClient("Unknown client_id")
    if redirect_uri is None and len(app.redirect_uris) == 1:
        redirect_uri = app.redirect_uris[0]
    if redirect_uri is None or redirect_uri not in app.redirect_uris:
        raise UntrustedClient("The redirect_uri is not registered for this application")
    try:
        state = one("state")
        response_type, scope = one("response_type"), one("scope")
        challenge, method = one("code_challenge"), one("code_challenge_method")
    except ValueError as exc:
        first_state = params["state"][0] if params.get("state") else None
        raise RedirectableError(
            "invalid_request", f"{exc} is given more than once", redirect_uri, first_state
        ) from None

    def fail(error: str, description: str) -> RedirectableError:
        return RedirectableError(error, description, redirect_uri, state)

    if response_type != "code":
        if response_type is None:
            raise fail("invalid_request", "response_type is required")
        raise fail("unsupported_response_type", "Only response_type=code is supported")
    wanted = scopes.parse(scope or "") or list(app.scopes)
    refused = [s for s in wanted if s not in app.scopes]
    if refused:
        raise fail("invalid_scope", f"Not allowed for this application: {' '.join(refused)}")
    if challenge is not None or method is not None:
        if (method or "plain") != "S256":
            raise fail("invalid_request", "code_challenge_method must be S256")
        if challenge is None or not _PKCE.match(challenge):
            raise fail("invalid_request", "code_challenge must be 43 to 128 characters")
    return AuthorizationRequest(app, redirect_uri, wanted, state, challenge, query)


def consent_problem(session: Session, request: AuthorizationRequest, user: User) -> str | None:
    """Why ``user`` cannot grant what ``request`` asks (None: they can)."""
    app = request.application
    role = repository.role(session, app.organization_id, user.id)
    org = repository.organization(session, app.organization_id)
    if role is None:
        return f"{user.email} is not a member of the organization {org.name}"
    admin = scopes.admin_only(request.scopes)
    if admin and role != "admin":
        return f"Only administrators of {org.name} may grant: {', '.join(admin)}"
    return None


def grant_code(
    session: Session, request: AuthorizationRequest, user: User, database_id: str | None
) -> str:
    """The code the consent page sends to the redirect URI."""
    app = request.application
    problem = consent_problem(session, request, user)
    if problem:
        raise Unprocessable(problem)
    if database_id is not None and database_id not in {
        d.id for d in repository.databases(session, app.organization_id)
    }:
        raise Unprocessable("Unknown database")
    now = utcnow()
    repository.delete_expired_codes(session, now)
    code = new_secret(CODE_PREFIX)
    session.add(
        OAuthAuthorizationCode(
            application_id=app.id,
            user_id=user.id,
            organization_id=app.organization_id,
            code_hash=token_hash(code),
            redirect_uri=request.redirect_uri,
            scopes=list(request.scopes),
            database_id=database_id,
            code_challenge=request.code_challenge,
            expires_at=now + CODE_TTL,
        )
    )
    session.flush()
    return code
