"""The sign-in, consent and error pages (server-rendered HTML, everything escaped)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from fastapi.responses import HTMLResponse

from moonbase.models import Database, OAuthApplication, Organization, User
from moonbase.resources.oauth import scopes

#: no framing (clickjacking), no scripts, nothing cached, no referrer leaking the query
HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = """
body{font-family:system-ui,sans-serif;background:#f5f5f7;margin:0;color:#1d1d1f}
main{max-width:28rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.75rem;
box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin-top:0} label{display:block;margin:.8rem 0 .3rem}
input,select{width:100%;padding:.5rem;box-sizing:border-box}
button{padding:.55rem 1.2rem;margin:1rem .5rem 0 0;border-radius:.4rem;border:1px solid #888}
button.primary{background:#1d1d1f;color:#fff} .error{color:#b00020}
.muted{color:#666;font-size:.9rem} ul{padding-left:1.2rem} li{margin:.2rem 0}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Moonbase</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def error_page(title: str, message: str, status: int = 400) -> HTMLResponse:
    return _page(title, f"<h1>{escape(title)}</h1><p class=error>{escape(message)}</p>", status)


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
        '<form method="post" action="/oauth/sign-in">'
        + _hidden("csrf_token", csrf)
        + _hidden("authorize_query", query)
        + '<label for="email">Email</label>'
        f'<input id="email" name="email" type="email" value="{escape(email)}" required '
        'autocomplete="username">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" required '
        'autocomplete="current-password">'
        '<button class="primary" type="submit">Sign in</button></form>'
    )
    return _page("Sign in", body, status)


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
        + _hidden("csrf_token", csrf)
        + _hidden("authorize_query", query)
        + choose
        + approve
        + '<button name="decision" value="deny">Deny</button></form>'
        f"<p class=muted>Signed in as {escape(user.email)}.</p>"
        '<form method="post" action="/oauth/sign-out">'
        + _hidden("csrf_token", csrf)
        + _hidden("authorize_query", query)
        + '<button type="submit">Use another account</button></form>'
    )
    return _page(f"Allow {app.name}", body, 403 if problem else 200)
