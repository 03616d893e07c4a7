"""The dashboard's pages: server-rendered HTML in the shared shell, no scripts.

Every value is escaped where it is put into a cell or a line (:func:`_text`), unless it is
:class:`Html` made here from escaped parts; names come from users.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import quote

from fastapi.responses import HTMLResponse

from moonbase.models import Branch, BranchState, Credential, Organization
from moonbase.resources.credentials.schemas import expired
from moonbase.schema.render import highlight
from moonbase.web.dashboard.routing import sign_in_url
from moonbase.web.dashboard.views import BranchView, DatabaseView, OrganizationView
from moonbase.web.pages import error_page, hidden, page, sign_in_form


class Html(str):
    """Markup made from escaped parts: put into a page as it is."""


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, and the CSRF token of their session (for the sign-out form)."""

    email: str
    csrf: str


def path(*names: str) -> str:
    """The dashboard path of an organization, database or branch (``/acme/shop/main``)."""
    return "/" + "/".join(quote(name, safe="") for name in names)


def _text(value: object) -> str:
    if isinstance(value, Html):
        return value
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return escape(value.strftime("%Y-%m-%d %H:%M UTC"))
    return escape(str(value))


def _link(href: str, text: str) -> Html:
    return Html(f'<a href="{escape(href)}">{escape(text)}</a>')


def _marked(text: str, css: str) -> Html:
    return Html(f'<span class="{css}">{escape(text)}</span>')


def _state(ready: bool, state: str) -> Html:
    return _marked("ready", "ok") if ready else _marked(state, "muted")


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{_text(c)}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f"<p class=muted>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _details(pairs: Iterable[tuple[str, object]]) -> str:
    items = "".join(f"<dt>{escape(name)}</dt><dd>{_text(value)}</dd>" for name, value in pairs)
    return f"<dl>{items}</dl>"


def _shell(
    viewer: Viewer, trail: Sequence[tuple[str, str]], title: str, body: str
) -> HTMLResponse:
    """A page with a trail of links (Moonbase / org / db / branch) and the sign-out form."""
    crumbs = " / ".join([_link("/", "Moonbase"), *(_link(href, text) for text, href in trail)])
    header = (
        f"<header><nav>{crumbs}</nav>"
        f'<form method="post" action="/sign-out"><span class=muted>{escape(viewer.email)}</span> '
        + hidden("csrf_token", viewer.csrf)
        + '<button type="submit">Sign out</button></form></header>'
    )
    return page(title, header + body, wide=True)


# --- signing in, and what is not there -------------------------------------------------------


def sign_in_page(
    csrf: str, next_path: str, email: str = "", error: str | None = None, status: int = 200
) -> HTMLResponse:
    problem = f"<p class=error>{escape(error)}</p>" if error else ""
    body = (
        "<h1>Sign in to Moonbase</h1>"
        "<p class=muted>The dashboard of your organizations' databases (read-only).</p>"
        + problem
        + sign_in_form("/sign-in", {"csrf_token": csrf, "next": next_path}, email)
    )
    return page("Sign in", body, status)


def expired_form(next_path: str) -> HTMLResponse:
    again = escape(sign_in_url(next_path))
    body = (
        "<h1>The form has expired</h1><p class=error>It was sent without this browser's "
        f'session.</p><p><a href="{again}">Open the sign-in page again</a>.</p>'
    )
    return page("The form has expired", body, 403)


def not_found() -> HTMLResponse:
    """The one answer for a missing page and a page the viewer may not see."""
    return error_page(
        "Not found", "There is nothing here, or it belongs to an organization you are not in.", 404
    )


# --- the pages ---------------------------------------------------------------------------


def organizations_page(
    viewer: Viewer, memberships: Sequence[tuple[Organization, str]]
) -> HTMLResponse:
    rows = [(_link(path(org.name), org.name), role) for org, role in memberships]
    body = "<h1>Your organizations</h1>" + _table(
        ("Organization", "Your role"), rows, "You are not a member of any organization."
    )
    return _shell(viewer, (), "Organizations", body)


def organization_page(viewer: Viewer, view: OrganizationView) -> HTMLResponse:
    org = view.organization
    rows = [
        (
            _link(path(org.name, d.name), d.name),
            f"{d.kind} {d.major_version}",
            _state(info["ready"], info["state"]),
            info["region"]["display_name"],
            d.cluster_size,
            d.replicas,
            info["branches_count"],
            d.created_at,
        )
        for d, info in view.databases
    ]
    headers = ("Database", "Kind", "State", "Region", "Cluster size", "Replicas", "Branches",
               "Created")  # fmt: skip
    body = f"<h1>{escape(org.name)}</h1><h2>Databases</h2>" + _table(
        headers, rows, "No databases yet."
    )
    return _shell(viewer, [(org.name, path(org.name))], org.name, body)


def _branch_rows(org: str, db: str, branches: Sequence[Branch]) -> list[tuple[object, ...]]:
    return [
        (
            _link(path(org, db, b.name), b.name),
            "production" if b.production else "development",
            _state(b.state == BranchState.READY, b.state.value),
            b.parent_branch,
            b.safe_migrations,
            b.table_count,
            b.schema_last_updated_at,
        )
        for b in branches
    ]


def database_page(viewer: Viewer, view: DatabaseView) -> HTMLResponse:
    org, db, info = view.organization, view.database, view.info
    default = _link(path(org.name, db.name, db.default_branch), db.default_branch)
    details = _details(
        [
            ("Kind", f"{db.kind} {db.major_version}"),
            ("State", _state(info["ready"], info["state"])),
            ("Region", info["region"]["display_name"]),
            ("Cluster size", db.cluster_size),
            ("Replicas", db.replicas),
            ("Default branch", default),
            ("Tables (default branch)", info["default_branch_table_count"]),
            ("Deletion protected", db.deletion_protected),
            ("Created", db.created_at),
            ("Schema last updated", db.schema_last_updated_at),
        ]
    )
    headers = ("Branch", "Kind", "State", "Parent", "Safe migrations", "Tables",
               "Schema last updated")  # fmt: skip
    branches = _table(headers, _branch_rows(org.name, db.name, view.branches), "No branches.")
    body = f"<h1>{escape(db.name)}</h1>{details}<h2>Branches</h2>{branches}"
    trail = [(org.name, path(org.name)), (db.name, path(org.name, db.name))]
    return _shell(viewer, trail, f"{db.name} · {org.name}", body)


def _status(view: BranchView) -> str:
    info, status = view.info, view.info["status"]
    failure = status["failure"]
    return _details(
        [
            ("State", _state(info["ready"], info["state"])),
            ("Schema ready", info["schema_ready"]),
            ("Reconciler", status["verdict"]),
            ("Failure", _marked(failure, "error") if failure else None),
            ("Failed permanently", status["failed_permanently"]),
            ("Attempts", status["attempts"]),
            ("Ready since", view.branch.ready_at),
            ("Next attempt", view.branch.next_attempt_at),
        ]
    )


def _settings(view: BranchView) -> str:
    b = view.branch
    return _details(
        [
            ("Production", b.production),
            ("Parent", b.parent_branch),
            ("Safe migrations", b.safe_migrations),
            ("Deletion protected", b.deletion_protected),
            ("Region", view.info["region"]["display_name"]),
            ("Cluster size", b.cluster_size),
            ("Replicas", b.replicas),
            ("Created", b.created_at),
        ]
    )


def _schema(view: BranchView) -> str:
    if view.tables is None:
        return "<p class=muted>The schema has not been read from the server yet.</p>"
    when = f"<p class=muted>As read at {_text(view.schema_taken_at)}.</p>"
    if not view.tables:
        return when + "<p class=muted>No tables.</p>"
    parts = []
    for table in view.tables:
        namespace = table.get("namespace") or ""
        name = f"{namespace}.{table['name']}" if namespace else str(table["name"])
        parts.append(f"<h3>{escape(name)}</h3>{highlight(str(table.get('raw', '')))}")
    return when + "".join(parts)


def _lint(view: BranchView) -> str:
    rows = [
        (
            e.code,
            e.table,
            Html(
                f'{escape(e.description)} <a href="{escape(e.to_json()["docs_url"])}" '
                'rel="noreferrer">docs</a>'
            ),
        )
        for e in view.problems
    ]
    return _table(("Problem", "Table", "Description"), rows, "No problems found.")


def _role_of(credential: Credential) -> str:
    if credential.kind == "password":
        return credential.role or ""
    return ", ".join(credential.inherited_roles)


def _credentials(view: BranchView) -> str:
    rows = [
        (
            c.name,
            c.username,
            _role_of(c),
            c.replica,
            c.created_at,
            _marked("expired", "error") if expired(c) else c.expires_at or "never",
        )
        for c in view.credentials
    ]
    what = "passwords" if view.database.kind == "mysql" else "roles"
    shown = _table(
        ("Name", "Username", "Role", "Replica", "Created", "Expires"), rows, f"No {what} yet."
    )
    more = view.credential_count - len(view.credentials)
    if more > 0:
        shown += f"<p class=muted>and {more} more.</p>"
    return shown


def branch_page(viewer: Viewer, view: BranchView) -> HTMLResponse:
    org, db, b = view.organization, view.database, view.branch
    servers = _table(
        ("Server", "Address (host:port)"),
        [(s["role"], s["address"]) for s in view.info["servers"]],
        "No servers yet.",
    )
    what, command = ("Passwords", "password") if db.kind == "mysql" else ("Roles", "role")
    body = (
        f"<h1>{escape(b.name)}</h1>"
        f"<p class=muted>Branch of {_link(path(org.name, db.name), db.name)} ({escape(db.kind)})"
        "</p>"
        f"<h2>Status</h2>{_status(view)}<h2>Settings</h2>{_settings(view)}"
        f"<h2>Connection</h2>{servers}"
        f"<h2>Schema</h2>{_schema(view)}<h2>Schema lint</h2>{_lint(view)}"
        f"<h2>{what}</h2>{_credentials(view)}"
        "<p class=muted>A password is shown once, when it is made (through the API or "
        f"<code>moonbase {command} create</code>), and never here.</p>"
    )
    trail = [
        (org.name, path(org.name)),
        (db.name, path(org.name, db.name)),
        (b.name, path(org.name, db.name, b.name)),
    ]
    return _shell(viewer, trail, f"{b.name} · {db.name}", body)
