"""Posted forms of Moonbase's pages: reading them, their CSRF token, and a person's sign-in."""

from __future__ import annotations

from functools import cache
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from moonbase.models import User
from moonbase.passwords import check_password, hash_password
from moonbase.resources.oauth import repository
from moonbase.web.session import BrowserSession, CookieScope

MAX_FORM_BYTES = 64 * 1024


class Form(dict[str, str]):
    """A form-encoded body; ``problem`` says why it could not be read (None: it could)."""

    problem: str | None = None


async def form_fields(request: Request) -> Form:
    form = Form()
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        form.problem = "The request body is too large"
        return form
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        form.problem = "The request body is not a valid form"
        return form
    for name, value in pairs:
        if name in form:
            form.problem = f"The parameter {name} is given more than once"
        form[name] = value
    return form


FormDep = Annotated[Form, Depends(form_fields)]


def posted_session(request: Request, form: Form, scope: CookieScope) -> BrowserSession | None:
    """The session a form was posted in, when the form is readable and carries that session's
    CSRF token; None otherwise (forged, stale or from another site)."""
    session = scope.read(request)
    if form.problem or not scope.csrf_ok(request, session, form.get("csrf_token")):
        return None
    return session


@cache
def _no_user() -> str:
    """Checked when the email is unknown, so a wrong email takes as long as a wrong password."""
    return hash_password("moonbase: no such user")


def signing_in(db: Session, email: str, password: str) -> User | None:
    """The user with this email and password; None for a wrong email or password (which
    take as long as each other)."""
    user = repository.user_by_email(db, email) if email else None
    if not check_password(password, user.password_hash if user else _no_user()):
        return None
    return user
