"""The sign-in, consent and error pages (server-rendered HTML, everything escaped)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from fastapi.responses import HTMLResponse

from moonbase.models import Database, OAuthApplication, Organization, User
from moonbase.resources.oauth import scopes
from moonbase.web.pages import error_page, hidden, page, sign_in_form

__all__ = ["consent_page", "error_page", "sign_in_page"]


def sign_in_page(
    app: OAuthApplication,
    org: Organization,
    csrf: str,
    query: str,
    email: str = "",
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    problem = f"<p class=error>{escape(error)}</p>" if error else ""
    body = (
        f"<h1>Sign in to Moonbase</h1><p><b>{escape(app.name)}</b> "
        f"({escape(app.domain)}) asks for access to the organization "
        f"<b>{escape(org.name)}</b>.</p>{problem}"
        + sign_in_form("/oauth/sign-in", {"csrf_token": csrf, "authorize_query": query}, email)
    )
    return page("Sign in", body, status)


def consent_page(
    app: OAuthApplication,
    org: Organization,
    user: User,
    requested: Sequence[str],
    databases: Sequence[Database],
    csrf: str,
    query: str,
    problem: str | None = None,
) -> HTMLResponse:
    items = "".join(
        f"<li>{escape(scopes.describe(s))} <span class=muted>({escape(s)})</span></li>"
        for s in requested
    )
    choose = ""
    if problem is None and scopes.needs_database(requested):
        options = '<option value="">All databases (now and later)</option>' + "".join(
            f'<option value="{escape(d.id)}">{escape(d.name)}</option>' for d in databases
        )
        choose = (
            '<label for="database">Databases</label>'
            f'<select id="database" name="database">{options}</select>'
        )
    approve = (
        "" if problem else '<button class="primary" name="decision" value="approve">Allow</button>'
    )
    warning = f"<p class=error>{escape(problem)}</p>" if problem else ""
    body = (
        f"<h1>Allow {escape(app.name)}?</h1>"
        f"<p><b>{escape(app.name)}</b> ({escape(app.domain)}) asks for access to the "
        f"organization <b>{escape(org.name)}</b> on your behalf. It will be able to:</p>"
        f"<ul>{items}</ul>{warning}"
        '<form method="post" action="/oauth/authorize">'
        + hidden("csrf_token", csrf)
        + hidden("authorize_query", query)
        + choose
        + approve
        + '<button name="decision" value="deny">Deny</button></form>'
        f"<p class=muted>Signed in as {escape(user.email)}.</p>"
        '<form method="post" action="/oauth/sign-out">'
        + hidden("csrf_token", csrf)
        + hidden("authorize_query", query)
        + '<button type="submit">Use another account</button></form>'
    )
    return page(f"Allow {app.name}", body, 403 if problem else 200)
