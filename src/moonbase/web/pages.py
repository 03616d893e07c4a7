"""The shell every Moonbase page shares: headers, style, layout, and the sign-in form.

Server-rendered HTML without scripts; everything that comes from a user is escaped.
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse, RedirectResponse

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
box-shadow:0 1px 4px #0002} main.wide{max-width:72rem;margin:2rem auto}
h1{font-size:1.3rem;margin-top:0} h2{font-size:1.1rem;margin:1.8rem 0 .6rem}
h3{font-size:.95rem;margin:1rem 0 .3rem} label{display:block;margin:.8rem 0 .3rem}
input,select{width:100%;padding:.5rem;box-sizing:border-box}
button{padding:.55rem 1.2rem;margin:1rem .5rem 0 0;border-radius:.4rem;border:1px solid #888}
button.primary{background:#1d1d1f;color:#fff} .error{color:#b00020} .ok{color:#0a7d32}
.muted{color:#666;font-size:.9rem} ul{padding-left:1.2rem} li{margin:.2rem 0}
a{color:#0b57d0} table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #e5e5e7;vertical-align:top}
th{color:#555;font-weight:600} dl{display:grid;grid-template-columns:max-content 1fr;
gap:.3rem 1.2rem;margin:0} dt{color:#555} dd{margin:0}
pre.sql{background:#f5f5f7;padding:.8rem;border-radius:.4rem;overflow-x:auto;font-size:.85rem}
pre.sql .k{color:#0b57d0;font-weight:600}
header{display:flex;justify-content:space-between;align-items:center;gap:1rem;
margin-bottom:1.2rem} header form button{margin:0;padding:.35rem .8rem}
"""


def page(title: str, body: str, status: int = 200, *, wide: bool = False) -> HTMLResponse:
    """A complete page: ``body`` is HTML (its parts escaped by the caller), ``title`` text."""
    main = '<main class="wide">' if wide else "<main>"
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Moonbase</title><style>{_STYLE}</style></head>"
        f"<body>{main}{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def error_page(title: str, message: str, status: int = 400) -> HTMLResponse:
    return page(title, f"<h1>{escape(title)}</h1><p class=error>{escape(message)}</p>", status)


def see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})


def sign_in_form(action: str, fields: dict[str, str], email: str = "") -> str:
    """Email and password, posted to ``action`` with the hidden ``fields`` (CSRF token ...)."""
    return (
        f'<form method="post" action="{escape(action)}">'
        + "".join(hidden(name, value) for name, value in fields.items())
        + '<label for="email">Email</label>'
        f'<input id="email" name="email" type="email" value="{escape(email)}" required '
        'autocomplete="username">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" required '
        'autocomplete="current-password">'
        '<button class="primary" type="submit">Sign in</button></form>'
    )
