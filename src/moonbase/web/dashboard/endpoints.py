"""The dashboard's routes: read-only pages, and signing in and out.

GET  /                          the signed-in person's organizations (only one: its page)
GET  /sign-in?next=/acme/shop   the sign-in form (signed in already: on to ``next``)
POST /sign-in                   email + password of a Moonbase user -> session cookie -> ``next``
POST /sign-out                  forget the session
GET  /{org}                     the organization's databases
GET  /{org}/{db}                a database and its branches
GET  /{org}/{db}/{branch}       a branch: status, connection, schema, lint, credentials

A visitor who is not signed in is sent to the sign-in form (303) with the page as ``next``.
A database or branch page whose schemas are more than a few seconds old first asks the
reconciler to read them again and waits for it briefly (the only thing a page writes), so
tables made a moment ago show up.
``install`` adds these routes after all others and keeps Moonbase's own paths out of their
reach (``routing``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request, Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from moonbase.errors import NotFound
from moonbase.ids import utcnow
from moonbase.models import Branch, BranchState, SchemaSnapshot, User
from moonbase.settings import Settings
from moonbase.store.db import Store
from moonbase.web.dashboard import pages, views
from moonbase.web.dashboard.routing import DashboardRoute, reserve, safe_next, sign_in_url
from moonbase.web.forms import FormDep, posted_session, signing_in
from moonbase.web.pages import see_other
from moonbase.web.session import DASHBOARD, BrowserSession

router = APIRouter(include_in_schema=False, route_class=DashboardRoute)

#: what a page route renders for the signed-in viewer (NotFound: the 404 page)
Build = Callable[[Session, User, pages.Viewer], Response]


def install(app: FastAPI) -> None:
    """Add the dashboard last: every path the app answers so far stays the app's."""
    reserve(app)
    app.include_router(router)


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _here(request: Request) -> str:
    query = request.url.query
    return quote(request.url.path) + (f"?{query}" if query else "")


def _signed_in(db: Session, session: BrowserSession | None) -> User | None:
    return db.get(User, session.user_id) if session is not None and session.user_id else None


#: a page showing a schema older than this asks the reconciler for a fresh one first ...
FRESH = timedelta(seconds=5)
#: ... and waits for it at most this long (then shows the one it has)
FRESH_WAIT = 2.0
#: which ready branches a page shows the schema of (membership checked: NotFound otherwise)
Shown = Callable[[Session, User], list[Branch]]


def _fresh_schemas(request: Request, shown: Shown) -> None:
    """Ask the reconciler to read again the schemas a page is about to show, if they are older
    than ``FRESH``, and wait (briefly) until it has: tables created a moment ago show up."""
    store, notifier = _store(request), request.app.state.notifier
    now = utcnow()
    with store.tx() as db:
        session = DASHBOARD.read(request)
        user = _signed_in(db, session)
        try:
            branches = shown(db, user) if user is not None else []
        except NotFound:
            return
        stale = [
            b.id
            for b in branches
            if b.state == BranchState.READY
            and ((s := db.get(SchemaSnapshot, b.id)) is None or now - s.taken_at >= FRESH)
        ]
        if not stale:
            return
        db.execute(
            update(Branch)
            .where(Branch.id.in_(stale))
            .values(schema_refresh_requested_at=now, updated_at=Branch.updated_at)
        )
    notifier.wake()

    def fresh() -> bool:
        with store.tx() as db:
            taken = db.scalars(select(SchemaSnapshot.taken_at).where(
                SchemaSnapshot.branch_id.in_(stale))).all()  # fmt: skip
        return len(taken) == len(stale) and all(t >= now for t in taken)

    notifier.wait_until(fresh, FRESH_WAIT)


def _page(request: Request, build: Build, shown: Shown | None = None) -> Response:
    if shown is not None:
        _fresh_schemas(request, shown)
    with _store(request).tx() as db:
        session = DASHBOARD.read(request)
        user = _signed_in(db, session)
        if user is None or session is None:
            return see_other(sign_in_url(_here(request)))
        viewer = pages.Viewer(user.email, DASHBOARD.csrf_token(request, session))
        try:
            return build(db, user, viewer)
        except NotFound:
            return pages.not_found()


# --- signing in and out ------------------------------------------------------------------


@router.get("/sign-in")
def sign_in_form(request: Request) -> Response:
    target = safe_next(request.query_params.get("next"))
    session = DASHBOARD.read(request)
    with _store(request).tx() as db:
        if _signed_in(db, session) is not None:
            return see_other(target)
    if session is None or session.user_id:
        session = BrowserSession.new()
    response = pages.sign_in_page(DASHBOARD.csrf_token(request, session), target)
    DASHBOARD.write(request, response, session)
    return response


@router.post("/sign-in")
def sign_in(request: Request, form: FormDep) -> Response:
    target = safe_next(form.get("next"))
    session = posted_session(request, form, DASHBOARD)
    if session is None:
        return pages.expired_form(target)
    email = form.get("email", "").strip()
    with _store(request).tx() as db:
        user = signing_in(db, email, form.get("password", ""))
    if user is None:
        csrf = DASHBOARD.csrf_token(request, session)
        return pages.sign_in_page(csrf, target, email, "Wrong email or password", 401)
    response = see_other(target)
    DASHBOARD.write(request, response, BrowserSession.new(user.id))  # a new nonce
    return response


@router.post("/sign-out")
def sign_out(request: Request, form: FormDep) -> Response:
    if posted_session(request, form, DASHBOARD) is None:
        return pages.expired_form("/")
    response = see_other("/sign-in")
    DASHBOARD.clear(request, response)
    return response


# --- the pages ---------------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> Response:
    def build(db: Session, user: User, viewer: pages.Viewer) -> Response:
        memberships = views.organizations_of(db, user)
        if len(memberships) == 1:
            return see_other(pages.path(memberships[0][0].name))
        return pages.organizations_page(viewer, memberships)

    return _page(request, build)


@router.get("/{organization}")
def organization_page(request: Request, organization: str) -> Response:
    def build(db: Session, user: User, viewer: pages.Viewer) -> Response:
        view = views.organization(db, _settings(request), user, organization)
        return pages.organization_page(viewer, view)

    return _page(request, build)


@router.get("/{organization}/{database}")
def database_page(request: Request, organization: str, database: str) -> Response:
    def build(db: Session, user: User, viewer: pages.Viewer) -> Response:
        view = views.database(db, _settings(request), user, organization, database)
        return pages.database_page(viewer, view)

    def shown(db: Session, user: User) -> list[Branch]:
        return views.database(db, _settings(request), user, organization, database).branches

    return _page(request, build, shown)


@router.get("/{organization}/{database}/{branch}")
def branch_page(request: Request, organization: str, database: str, branch: str) -> Response:
    def build(db: Session, user: User, viewer: pages.Viewer) -> Response:
        view = views.branch(db, _settings(request), user, organization, database, branch)
        return pages.branch_page(viewer, view)

    def shown(db: Session, user: User) -> list[Branch]:
        return [views.branch(db, _settings(request), user, organization, database, branch).branch]

    return _page(request, build, shown)
