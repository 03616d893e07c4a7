"""OAuth grants: registering applications, authenticating them, and their tokens.

    GrantError(error, description)   an RFC 6749 error: invalid_client, invalid_grant, ...
    └── RedirectableError            (authorization.py) an authorization-request error the
                                     client hears about at its validated redirect URI

The authorization request and the codes it ends with are in ``authorization.py``.

Services only flush. A GrantError may follow changes that must stay (a code presented twice
revokes the token issued for it; a token whose user left the organization is deleted): the
caller commits before answering with the error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from moonbase.errors import Unprocessable
from moonbase.ids import new_id, new_secret, token_hash, utcnow
from moonbase.models import OAuthApplication, OAuthAuthorizationCode, OAuthToken, Organization
from moonbase.resources.oauth import repository, scopes

#: behaviour doc 6.1: access tokens live 30 days
ACCESS_TOKEN_TTL = timedelta(seconds=2592000)
ACCESS_PREFIX = "pscale_oauth_"
REFRESH_PREFIX = "pscale_oauth_refresh_"
SECRET_PREFIX = "pscale_app_secret_"
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


class GrantError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


# --- applications -------------------------------------------------------------------------


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be registered (None: it can). HTTPS, or HTTP to this machine."""
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"'{uri}' is not an absolute http(s) URL"
    if parts.fragment or "#" in uri:
        return f"'{uri}' must not have a fragment"
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        return f"'{uri}' must use https (http only for localhost)"
    return None


def register_application(
    session: Session,
    organization: Organization,
    name: str,
    redirect_uris: Sequence[str],
    requested_scopes: Sequence[str],
    *,
    domain: str | None = None,
    avatar: str = "",
) -> tuple[OAuthApplication, str]:
    """A new application and its client secret (shown once; only its hash is kept)."""
    name = name.strip()
    if not name or len(name) > 255:
        raise Unprocessable("The name must be 1 to 255 characters")
    uris = list(dict.fromkeys(u.strip() for u in redirect_uris if u.strip()))
    if not uris:
        raise Unprocessable("At least one redirect URI is required")
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem:
            raise Unprocessable(f"Invalid redirect URI: {problem}")
    wanted = scopes.parse(requested_scopes)
    if not wanted:
        raise Unprocessable("At least one scope is required")
    bad = scopes.unknown(wanted)
    if bad:
        raise Unprocessable(f"Unknown scopes: {', '.join(bad)}")
    secret = new_secret(SECRET_PREFIX)
    app = OAuthApplication(
        organization_id=organization.id,
        name=name,
        redirect_uris=uris,
        scopes=wanted,
        client_id=new_secret("", 32).lower(),
        client_secret_hash=token_hash(secret),
        domain=domain or urlsplit(uris[0]).hostname or "",
        avatar=avatar,
    )
    session.add(app)
    session.flush()
    return app, secret


def authenticate_client(session: Session, client_id: str, client_secret: str) -> OAuthApplication:
    app = repository.application_by_client_id(session, client_id) if client_id else None
    # compare even when the client is unknown, so timing tells nothing
    stored = app.client_secret_hash if app else token_hash("")
    if not hmac.compare_digest(stored, token_hash(client_secret)) or app is None:
        raise GrantError("invalid_client", "Unknown client or wrong client secret")
    return app


# --- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    token: OAuthToken
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _rows(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _still_allowed(
    session: Session, token_scopes: Sequence[str], org_id: str, user_id: str
) -> bool:
    role = repository.role(session, org_id, user_id)
    return role is not None and (role == "admin" or not scopes.admin_only(token_scopes))


def exchange_code(
    session: Session,
    app: OAuthApplication,
    code: str,
    redirect_uri: str | None,
    code_verifier: str | None,
) -> Issued:
    """``grant_type=authorization_code``."""
    invalid = GrantError("invalid_grant", "The authorization code is invalid or has expired")
    found = repository.code_by_hash(session, token_hash(code)) if code else None
    if found is None or found.application_id != app.id:
        raise invalid
    now = utcnow()
    if found.used_at is not None:
        _revoke_for_reused(session, found)
    if found.expires_at <= now:
        raise invalid
    if not redirect_uri or redirect_uri != found.redirect_uri:
        raise GrantError("invalid_grant", "redirect_uri does not match the authorization request")
    if found.code_challenge is not None:
        if not code_verifier or not hmac.compare_digest(_s256(code_verifier), found.code_challenge):
            raise GrantError("invalid_grant", "The code_verifier does not match the challenge")
    elif code_verifier:
        raise GrantError("invalid_grant", "code_verifier given but no challenge was made")
    if not _still_allowed(session, found.scopes, found.organization_id, found.user_id):
        raise GrantError("invalid_grant", "The user may no longer grant these scopes")
    token_id = new_id()
    consumed = session.execute(
        update(OAuthAuthorizationCode)
        .where(OAuthAuthorizationCode.id == found.id, OAuthAuthorizationCode.used_at.is_(None))
        .values(used_at=now, token_id=token_id)
    )
    if _rows(consumed) != 1:  # exchanged meanwhile by a concurrent request
        session.refresh(found)
        _revoke_for_reused(session, found)
    access, refresh = new_secret(ACCESS_PREFIX), new_secret(REFRESH_PREFIX)
    token = OAuthToken(
        id=token_id,
        organization_id=found.organization_id,
        token_hash=token_hash(access),
        refresh_token_hash=token_hash(refresh),
        scopes=list(found.scopes),
        database_id=found.database_id,
        expires_at=now + ACCESS_TOKEN_TTL,
        user_id=found.user_id,
        application_id=app.id,
    )
    session.add(token)
    session.flush()
    return Issued(token, access, refresh)


def _revoke_for_reused(session: Session, code: OAuthAuthorizationCode) -> None:
    """RFC 6749 4.1.2: a code used twice revokes the token issued for it."""
    if code.token_id is not None:
        token = session.get(OAuthToken, code.token_id)
        if token is not None:
            session.delete(token)
            session.flush()
    raise GrantError(
        "invalid_grant", "The authorization code was already used; its token is revoked"
    )


def refresh_grant(
    session: Session, app: OAuthApplication, refresh_token: str, scope: str | None
) -> Issued:
    """``grant_type=refresh_token``: a new access token and a new refresh token (the old
    refresh token stops working), optionally with fewer scopes."""
    old_hash = token_hash(refresh_token) if refresh_token else ""
    token = repository.token_by_refresh_hash(session, old_hash) if refresh_token else None
    if token is None or token.application_id != app.id:
        raise GrantError("invalid_grant", "The refresh token is invalid or was revoked")
    if token.user_id is not None and not _still_allowed(
        session, token.scopes, token.organization_id, token.user_id
    ):
        session.delete(token)
        session.flush()
        raise GrantError("invalid_grant", "The user may no longer grant these scopes")
    narrowed = scopes.parse(scope or "") or list(token.scopes)
    extra = [s for s in narrowed if s not in token.scopes]
    if extra:
        raise GrantError("invalid_scope", f"Not granted before: {' '.join(extra)}")
    access, refresh = new_secret(ACCESS_PREFIX), new_secret(REFRESH_PREFIX)
    rotated = session.execute(
        update(OAuthToken)
        .where(OAuthToken.id == token.id, OAuthToken.refresh_token_hash == old_hash)
        .values(
            token_hash=token_hash(access),
            refresh_token_hash=token_hash(refresh),
            expires_at=utcnow() + ACCESS_TOKEN_TTL,
            scopes=narrowed,
        )
    )
    if _rows(rotated) != 1:  # rotated meanwhile by a concurrent request
        raise GrantError("invalid_grant", "The refresh token is invalid or was revoked")
    session.refresh(token)
    return Issued(token, access, refresh)


def grant(
    session: Session, app: OAuthApplication, grant_type: str, fields: Mapping[str, str | None]
) -> Issued:
    """The token endpoint's work, once the client is authenticated as ``app``."""
    if not grant_type:
        raise GrantError("invalid_request", "grant_type is required")
    if grant_type == "authorization_code":
        for required in ("code", "redirect_uri"):
            if not fields.get(required):
                raise GrantError("invalid_request", f"{required} is required for {grant_type}")
        return exchange_code(
            session,
            app,
            fields["code"] or "",
            fields.get("redirect_uri"),
            fields.get("code_verifier"),
        )
    if grant_type == "refresh_token":
        if not fields.get("refresh_token"):
            raise GrantError("invalid_request", f"refresh_token is required for {grant_type}")
        return refresh_grant(session, app, fields["refresh_token"] or "", fields.get("scope"))
    raise GrantError(
        "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"
    )


def revoke(session: Session, token: OAuthToken) -> None:
    """The access token and its refresh token stop working at once."""
    session.delete(token)
    session.flush()


def token_response(issued: Issued) -> dict[str, Any]:
    """RFC 6749 5.1, as PlanetScale answers at /oauth/token (behaviour doc 6.1)."""
    return {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": int(ACCESS_TOKEN_TTL.total_seconds()),
        "refresh_token": issued.refresh_token,
        "scope": " ".join(issued.token.scopes),
    }
