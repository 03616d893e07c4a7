"""The web dashboard at the ``html_url`` paths: signing in (CSRF, session cookie, a safe
``next``), what each page shows, who sees what (members only; the same 404 for what is not
there and what is not theirs), escaping, and that every API path stays the API's.

A ``browser`` is a second TestClient on the same app (its own cookies, no token); requests
never follow redirects, so each step is checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI, Response
from fastapi.testclient import TestClient
from oauth_support import ALICE, BOB, CAROL, PASSWORD, add_person, hidden, query, register
from sqlalchemy import select, update
from starlette.requests import Request

from moonbase.engines.base import TableSchema
from moonbase.errors import Unprocessable
from moonbase.ids import utcnow
from moonbase.models import Credential, Database, SchemaSnapshot
from moonbase.tenancy import check_name
from moonbase.web.dashboard.routing import safe_next
from moonbase.web.session import DASHBOARD, BrowserSession

from api_support import (
    add_organization,
    branch_path,
    create_branch,
    db_path,
    installation,
    org_id,
    org_path,
    ready_db,
    store,
    wait_branch_ready,
)

COOKIE = "moonbase_dashboard"


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    """A browser on the same app: no token, its own cookies (the app is already running)."""
    add_person(app, ALICE, "admin")
    yield TestClient(app, base_url="http://testserver", follow_redirects=False)


def sign_in_form(browser: TestClient, next_path: str = "/") -> Any:
    page = browser.get("/sign-in", params={"next": next_path})
    assert page.status_code == 200, page.text
    assert 'action="/sign-in"' in page.text
    return page


def sign_in(
    browser: TestClient, email: str = ALICE, password: str = PASSWORD, next_path: str = "/"
) -> Any:
    form = {**hidden(sign_in_form(browser, next_path).text), "email": email, "password": password}
    return browser.post("/sign-in", data=form)


def signed_in(browser: TestClient, email: str = ALICE) -> TestClient:
    browser.cookies.clear()
    assert sign_in(browser, email).status_code == 303
    return browser


def html(response: Any, status: int = 200) -> str:
    """The page of an HTML answer with ``status``, checked for the pages' security headers."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "<script" not in response.text.lower()
    return str(response.text)


def sign_in_redirect(response: Any) -> str:
    """The ``next`` of a redirect to the sign-in form."""
    assert response.status_code == 303, (response.status_code, response.text)
    location = urlsplit(response.headers["location"])
    assert location.path == "/sign-in" and not location.netloc
    return parse_qs(location.query)["next"][0]


def set_cookie(response: Any) -> str:
    """The one Set-Cookie header of an answer."""
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert len(cookies) == 1, cookies
    return str(cookies[0])


def cookie_for(app: FastAPI, session: BrowserSession) -> str:
    """The dashboard cookie's value for ``session``, as the app itself would sign it."""
    response = Response()
    DASHBOARD.write(Request({"type": "http", "app": app, "headers": []}), response, session)
    (header,) = response.headers.getlist("set-cookie")
    return header.split(";", 1)[0].split("=", 1)[1]


def mysql_tables() -> list[dict[str, Any]]:
    """Two tables as the provisioner reports them: a clean one, and one whose name needs
    escaping and whose engine lint refuses (and which has no unique key)."""
    orders = TableSchema(
        name="orders",
        raw="CREATE TABLE `orders` (\n  `id` bigint NOT NULL,\n  PRIMARY KEY (`id`)\n)",
        columns=(("id", "bigint", False),),
        unique_keys=(("id",),),
        strict_unique_keys=(("id",),),
        charset="utf8mb4",
        engine="InnoDB",
    )
    odd = TableSchema(
        name="a<&>b",
        raw="CREATE TABLE `a<&>b` (`body` text) ENGINE=MyISAM",
        columns=(("body", "text", True),),
        charset="utf8mb4",
        engine="MyISAM",
    )
    return [asdict(orders), asdict(odd)]


def refresh_schema(api: TestClient, db: str, branch: str = "main") -> None:
    response = api.post(f"{branch_path(db, branch)}/refresh-schema")
    assert response.status_code == 200, response.text


# --- signing in -----------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in_with_the_page_as_next(
    api: TestClient, browser: TestClient
) -> None:
    ready_db(api, "shop")
    assert sign_in_redirect(browser.get("/acme/shop/main")) == "/acme/shop/main"
    assert sign_in_redirect(browser.get("/acme/shop")) == "/acme/shop"
    assert sign_in_redirect(browser.get("/acme?tab=x")) == "/acme?tab=x"
    assert sign_in_redirect(browser.get("/")) == "/"
    # the same for what does not exist: nothing is told before signing in
    assert sign_in_redirect(browser.get("/nobody/nothing")) == "/nobody/nothing"
    # a token is no sign-in: the pages go by the session cookie only
    assert sign_in_redirect(api.get("/acme/shop", follow_redirects=False)) == "/acme/shop"


def test_sign_in_sets_a_fresh_session_and_returns_to_next(
    api: TestClient, browser: TestClient
) -> None:
    ready_db(api, "shop")
    form = sign_in_form(browser, "/acme/shop")
    html(form)
    before = set_cookie(form).lower()
    for part in ("httponly", "samesite=lax", "path=/;", "max-age=3600"):
        assert part in before + ";", (part, before)
    assert "secure" not in before  # plain http here
    fields = hidden(form.text)
    assert fields["next"] == "/acme/shop"
    done = browser.post("/sign-in", data={**fields, "email": ALICE, "password": PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/acme/shop"
    after = set_cookie(done)
    assert "max-age=28800" in after.lower()
    assert after.split(";")[0] != before.split(";")[0]
    page = html(browser.get("/acme/shop"))
    assert "<h1>shop</h1>" in page and ALICE in page
    # the nonce changed at sign-in: a token of the form from before is no good any more
    stale = browser.post("/sign-out", data={"csrf_token": fields["csrf_token"]})
    assert stale.status_code == 403
    html(browser.get("/acme/shop"))
    # signed in already: the form sends you on
    again = browser.get("/sign-in", params={"next": "/acme"})
    assert again.status_code == 303 and again.headers["location"] == "/acme"


def test_the_first_administrator_signs_in_with_the_configured_password() -> None:
    with installation(admin_email="ops@example.com", admin_password="s3cret-enough") as (
        api,
        _fake,
    ):
        browser = TestClient(api.app, base_url="http://testserver", follow_redirects=False)
        assert sign_in(browser, "ops@example.com", "s3cret-enough").status_code == 303
        # one organization: the home page is that organization's page
        home = browser.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/acme"


@pytest.mark.parametrize(
    "email,password", [(ALICE, "wrong"), ("nobody@example.com", PASSWORD), ("", "")]
)
def test_a_wrong_email_or_password_shows_the_form_again(
    browser: TestClient, email: str, password: str
) -> None:
    refused = sign_in(browser, email, password, "/acme")
    page = html(refused, 401)
    assert "Wrong email or password" in page and 'action="/sign-in"' in page
    assert hidden(page)["next"] == "/acme"
    assert "set-cookie" not in refused.headers
    assert sign_in_redirect(browser.get("/acme")) == "/acme"


def test_forms_need_their_csrf_token(browser: TestClient) -> None:
    form = {**hidden(sign_in_form(browser).text), "email": ALICE, "password": PASSWORD}
    for bad in (
        {**form, "csrf_token": "forged"},
        {k: v for k, v in form.items() if k != "csrf_token"},
    ):
        refused = browser.post("/sign-in", data=bad)
        assert "The form has expired" in html(refused, 403)
        assert "location" not in refused.headers and "set-cookie" not in refused.headers
    # the right token, but not this browser's session (another site cannot read it)
    other = TestClient(browser.app, base_url="http://testserver", follow_redirects=False)
    assert other.post("/sign-in", data=form).status_code == 403
    assert sign_in_redirect(browser.get("/acme")) == "/acme"
    # signing out takes the token too
    signed_in(browser)
    for bad in ({"csrf_token": "forged"}, {}):
        assert browser.post("/sign-out", data=bad).status_code == 403
    html(browser.get("/acme"))


def test_sign_out(browser: TestClient) -> None:
    page = html(signed_in(browser).get("/acme"))
    out = browser.post("/sign-out", data=hidden(page))
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    assert "max-age=0" in set_cookie(out).lower()
    assert sign_in_redirect(browser.get("/acme")) == "/acme"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/acme",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/acme\r\nSet-Cookie: evil=1",
        "http:/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
        "/" + "a" * 3000,
    ],
)
def test_next_is_only_ever_a_path_on_this_site(browser: TestClient, target: str) -> None:
    assert safe_next(target) == "/"
    form = sign_in_form(browser, target)
    assert hidden(form.text)["next"] == "/"
    forged = {**hidden(form.text), "next": target, "email": ALICE, "password": PASSWORD}
    done = browser.post("/sign-in", data=forged)
    assert done.status_code == 303 and done.headers["location"] == "/"


def test_next_keeps_a_path_and_query_of_this_site(browser: TestClient) -> None:
    assert safe_next("/acme/shop?tab=schema") == "/acme/shop?tab=schema"
    done = sign_in(browser, next_path="/acme/shop?tab=schema")
    assert done.headers["location"] == "/acme/shop?tab=schema"


def test_expired_forged_and_orphaned_sessions_are_not_signed_in(
    app: FastAPI, browser: TestClient
) -> None:
    from moonbase.models import User

    alice = add_person(app, "dora@example.com", "admin")
    for session in (
        BrowserSession("n" * 32, alice, 1),  # expired long ago
        BrowserSession.new("nosuchuser01"),  # a user who is gone
        BrowserSession.new(None),  # not signed in
    ):
        browser.cookies.clear()
        browser.cookies.set(COOKIE, cookie_for(app, session))
        assert sign_in_redirect(browser.get("/acme")) == "/acme"
    good = cookie_for(app, BrowserSession.new(alice))
    browser.cookies.set(COOKIE, good)
    html(browser.get("/acme"))
    payload, signature = good.rsplit(".", 1)
    browser.cookies.set(COOKIE, f"{payload}x.{signature}")
    assert sign_in_redirect(browser.get("/acme")) == "/acme"
    with store(app).tx() as s:  # the user is deleted: their session ends with them
        s.delete(s.get(User, alice))
    browser.cookies.set(COOKIE, good)
    assert sign_in_redirect(browser.get("/acme")) == "/acme"


def test_the_dashboard_and_oauth_sessions_do_not_stand_in_for_each_other(
    app: FastAPI, api: TestClient, browser: TestClient
) -> None:
    signed_in(browser)
    dashboard = browser.cookies.get(COOKIE)
    assert dashboard
    client = register(app)
    oauth = TestClient(app, base_url="http://testserver", follow_redirects=False)
    oauth.cookies.set("moonbase_oauth", dashboard)
    page = oauth.get(f"/oauth/authorize?{query(client)}")
    assert 'action="/oauth/sign-in"' in page.text and "Signed in as" not in page.text
    # and a signed-in consent session is no dashboard session
    oauth.cookies.clear()
    consent = oauth.get(f"/oauth/authorize?{query(client)}")
    form = {**hidden(consent.text), "email": ALICE, "password": PASSWORD}
    assert oauth.post("/oauth/sign-in", data=form).status_code == 303
    signed = oauth.cookies.get("moonbase_oauth")
    assert signed
    other = TestClient(app, base_url="http://testserver", follow_redirects=False)
    other.cookies.set(COOKIE, signed)
    assert sign_in_redirect(other.get("/acme")) == "/acme"


def test_the_cookie_is_secure_behind_https() -> None:
    with installation(public_url="https://moonbase.example") as (api, _fake):
        browser = TestClient(api.app, base_url="https://testserver", follow_redirects=False)
        assert "secure" in set_cookie(browser.get("/sign-in")).lower()


# --- the pages ------------------------------------------------------------------------------


def test_pages_show_organization_database_and_branch(
    app: FastAPI, api: TestClient, browser: TestClient, fake: Any
) -> None:
    shop = ready_db(api, "shop")
    ready_db(api, "pg", "postgresql")
    main_id = api.get(branch_path("shop")).json()["id"]
    fake.schemas[main_id] = mysql_tables()
    refresh_schema(api, "shop")
    create_branch(api, "shop", "dev")
    wait_branch_ready(api, "shop", "dev")
    refresh_schema(api, "shop", "dev")
    created = api.post(f"{branch_path('shop')}/passwords", json={"role": "admin", "name": "ci"})
    assert created.status_code == 201, created.text
    secret = created.json()["plain_text"]
    signed_in(browser)

    org = html(browser.get("/acme"))
    assert '<a href="/acme/shop">shop</a>' in org and '<a href="/acme/pg">pg</a>' in org
    assert "postgresql 18" in org and "mysql 10.11" in org and "PS_10" in org
    assert "Moonbase local (us-east)" in org

    db = html(browser.get("/acme/shop"))
    assert '<a href="/acme/shop/main">main</a>' in db
    assert '<a href="/acme/shop/dev">dev</a>' in db
    assert "production" in db and "development" in db
    assert ">2<" in db  # the default branch's table count
    assert shop["name"] == "shop"

    branch = html(browser.get("/acme/shop/main"))
    assert "CREATE</span> <span" in branch  # the DDL, highlighted
    assert "`orders`" in branch and "`id` bigint" in branch
    assert "UNSUPPORTED_ENGINE" in branch and "NO_UNIQUE_KEY" in branch  # lint of a<&>b
    address = api.get(branch_path("shop")).json()["servers"][0]["address"]
    assert address and address in branch
    assert "<td>ci</td>" in branch and "<td>admin</td>" in branch
    assert secret not in branch
    with store(app).tx() as s:
        verifier = s.scalar(select(Credential.verifier).where(Credential.name == "ci"))
    assert verifier and verifier not in branch and "verifier" not in branch.lower()

    dev = html(browser.get("/acme/shop/dev"))
    assert "<dt>Parent</dt><dd>main</dd>" in dev and "`orders`" in dev  # main's schema, copied


def test_a_postgresql_branch_lists_its_roles(api: TestClient, browser: TestClient) -> None:
    ready_db(api, "pg", "postgresql")
    made = api.post(
        f"{branch_path('pg')}/roles", json={"name": "reporting", "inherited_roles": ["postgres"]}
    )
    assert made.status_code == 200, made.text
    page = html(signed_in(browser).get("/acme/pg/main"))
    assert "<h2>Roles</h2>" in page and "<td>reporting</td>" in page
    assert made.json()["password"] not in page


def test_a_failing_branch_shows_the_reconcilers_verdict(
    api: TestClient, browser: TestClient, fake: Any
) -> None:
    from moonbase.provisioners.fake import PermanentFailure

    fake.failures.append(PermanentFailure("the disk is on fire"))
    api.post(f"{org_path()}/databases", json={"name": "doomed", "cluster_size": "PS_10"})
    signed_in(browser)

    def failed() -> str | None:
        page = html(browser.get("/acme/doomed/main"))
        return page if "the disk is on fire" in page else None

    from api_support import wait_until

    page = wait_until(failed, what="the failure on the page")
    assert '<span class="error">the disk is on fire</span>' in page


def test_names_are_escaped(app: FastAPI, api: TestClient, browser: TestClient, fake: Any) -> None:
    ready_db(api, "shop")
    hostile = "<img src=x onerror=alert(1)>"
    with store(app).tx() as s:  # the API refuses such a name; the page must not trust it
        s.add(
            Database(organization_id=org_id(app), name=hostile, schema_name="x", kind="mysql",
                     region="us-east", cluster_size="PS_10", major_version="10.11")
        )  # fmt: skip
    main_id = api.get(branch_path("shop")).json()["id"]
    fake.schemas[main_id] = mysql_tables()
    refresh_schema(api, "shop")
    named = api.post(
        f"{branch_path('shop')}/passwords", json={"role": "reader", "name": "<b>x</b>&amp;"}
    )
    assert named.status_code == 201, named.text
    signed_in(browser)

    org = html(browser.get("/acme"))
    assert hostile not in org
    assert "&lt;img src=x onerror=alert(1)&gt;" in org
    assert 'href="/acme/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"' in org
    page = html(browser.get("/acme/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"))
    assert "<h1>&lt;img src=x onerror=alert(1)&gt;</h1>" in page

    branch = html(browser.get("/acme/shop/main"))
    assert "a<&>b" not in branch and "<h3>a&lt;&amp;&gt;b</h3>" in branch
    assert "`a&lt;&amp;&gt;b`" in branch
    assert "<b>x</b>" not in branch and "&lt;b&gt;x&lt;/b&gt;&amp;amp;" in branch


# --- who sees what --------------------------------------------------------------------------


def test_members_see_their_organization_and_nothing_else(
    app: FastAPI, api: TestClient, browser: TestClient
) -> None:
    ready_db(api, "shop")
    _, globex = add_organization(app, "globex")  # with a database of its own
    body = {"name": "secret", "cluster_size": "PS_10"}
    assert api.post(f"{org_path('globex')}/databases", json=body, headers=globex).status_code == 201
    add_person(app, BOB, "member")
    add_person(app, CAROL, None)

    member = signed_in(browser, BOB)
    html(member.get("/acme"))
    html(member.get("/acme/shop"))
    html(member.get("/acme/shop/main"))
    missing = [
        member.get(path)
        for path in ("/globex", "/globex/secret", "/globex/secret/main", "/acme/nothing",
                     "/acme/shop/nothing", "/nobody", "/nobody/shop/main")
    ]  # fmt: skip
    bodies = {html(response, 404) for response in missing}
    assert len(bodies) == 1, "a 404 must not tell what is missing from what is hidden"
    assert "secret" not in bodies.pop()

    outsider = signed_in(browser, CAROL)
    for path in ("/acme", "/acme/shop", "/acme/shop/main"):
        html(outsider.get(path), 404)
    assert "not a member of any organization" in html(outsider.get("/"))


def test_the_home_page_lists_the_organizations_of_someone_in_several(
    app: FastAPI, browser: TestClient
) -> None:
    from moonbase.models import Membership, User

    globex_id, _headers = add_organization(app, "globex")
    add_organization(app, "initech")
    with store(app).tx() as s:
        alice = s.scalar(select(User.id).where(User.email == ALICE))
        assert alice is not None
        s.add(Membership(organization_id=globex_id, user_id=alice, role="member"))
    page = html(signed_in(browser).get("/"))
    assert '<a href="/acme">acme</a>' in page and '<a href="/globex">globex</a>' in page
    assert "initech" not in page
    html(browser.get("/globex"))


def test_html_urls_of_the_api_lead_to_the_pages(api: TestClient, browser: TestClient) -> None:
    ready_db(api, "shop")
    for url in (db_path("shop"), branch_path("shop")):
        html_url = api.get(url).json()["html_url"]
        target = urlsplit(html_url).path
        browser.cookies.clear()
        assert sign_in_redirect(browser.get(target)) == target
        done = sign_in(browser, next_path=target)
        assert done.headers["location"] == target
        assert "shop" in html(browser.get(done.headers["location"]))


# --- the API keeps its paths ----------------------------------------------------------------

RESERVED = ("v1", "oauth", "healthz", "sign-in", "sign-out", "static", "docs")


def test_api_paths_are_never_pages(app: FastAPI, api: TestClient, browser: TestClient) -> None:
    from moonbase.models import Membership, User

    ready_db(api, "shop")
    with store(app).tx() as s:
        alice = s.scalar(select(User.id).where(User.email == ALICE))
        assert alice is not None
    for name in RESERVED:  # organizations named like Moonbase's own paths, Alice in each
        new_id, _headers = add_organization(app, name)
        with store(app).tx() as s:
            s.add(Membership(organization_id=new_id, user_id=alice, role="admin"))
    signed_in(browser)
    browser.headers.update(api.headers)  # a browser that also holds a token: API paths win
    for name in RESERVED:
        for path in (f"/{name}/x/y", f"/{name}/nope"):
            answer = browser.get(path)
            assert answer.status_code in (404, 405), (path, answer.status_code)
            assert answer.headers["content-type"] == "application/json", path
            assert set(answer.json()) == {"code", "message"}, path
    assert browser.get("/v1").json()["code"] == "not_found"
    assert browser.get("/oauth/token").status_code == 405  # a POST-only route, not a page
    assert browser.get("/healthz").json() == {"status": "ok"}
    listed = browser.get(f"{org_path()}/databases")
    assert listed.status_code == 200 and listed.json()["data"][0]["name"] == "shop"
    assert browser.get(db_path("shop")).json()["name"] == "shop"
    assert browser.get("/openapi.json").json()["info"]["title"] == "Moonbase"
    assert "Sign out" not in browser.get("/docs").text
    # the pages themselves are still there
    html(browser.get("/acme/shop"))
    # and no new organization may take such a name
    for name in RESERVED:
        with pytest.raises(Unprocessable):
            check_name(name)
    check_name("acme-2")


def test_every_path_the_app_answers_stays_the_apps(app: FastAPI, browser: TestClient) -> None:
    """Whatever router was added, before or after this test was written: the first segment of
    each of its paths is never taken by a page (a router added after the dashboard would be)."""
    from fastapi.routing import iter_route_contexts

    pages = "moonbase.web.dashboard.endpoints"
    segments = {
        context.path.split("/")[1]
        for context in iter_route_contexts(app.routes)
        if context.path and getattr(context.endpoint, "__module__", pages) != pages
    }
    segments = {s for s in segments if s and "{" not in s}
    assert {"v1", "oauth", "healthz", "docs", "openapi.json"} <= segments
    signed_in(browser)
    for segment in segments:
        for path in (f"/{segment}", f"/{segment}/x", f"/{segment}/x/y"):
            answer = browser.get(path)
            assert "location" not in answer.headers, path
            assert "Sign out" not in answer.text and "Not found" not in answer.text, path


def test_unknown_first_segments_are_pages(api: TestClient, browser: TestClient) -> None:
    assert sign_in_redirect(browser.get("/nope")) == "/nope"
    assert html(signed_in(browser).get("/nope"), 404)
    wrong_method = browser.post("/acme")
    assert wrong_method.status_code == 405


def test_sign_in_page_links_nothing_external(browser: TestClient) -> None:
    page = html(sign_in_form(browser))
    hrefs = re.findall(r'(?:href|action|src)="([^"]*)"', page)
    assert hrefs == ["/sign-in"], hrefs
    assert unescape(hidden(page)["next"]) == "/"


def test_pages_ask_for_a_fresh_schema_when_theirs_is_old(
    app: FastAPI, api: TestClient, browser: TestClient, fake: Any
) -> None:
    ready_db(api, "fresh")
    main_id = api.get(branch_path("fresh")).json()["id"]
    refresh_schema(api, "fresh")  # a snapshot of no tables, just taken
    signed_in(browser)
    fake.schemas[main_id] = mysql_tables()  # tables made since (as if by a client)
    with store(app).tx() as s:  # a snapshot that stays fresh however slow this machine is
        s.execute(update(SchemaSnapshot).values(taken_at=utcnow() + timedelta(minutes=5)))
    assert "`orders`" not in html(browser.get("/acme/fresh/main"))  # not read again

    # half a minute later: older than a page accepts, younger than the reconciler's own
    # once-a-minute refresh, so only the page's asking brings the new table
    with store(app).tx() as s:
        s.execute(update(SchemaSnapshot).values(taken_at=utcnow() - timedelta(seconds=30)))
    assert "`orders`" in html(browser.get("/acme/fresh/main"))
    with store(app).tx() as s:
        s.execute(update(SchemaSnapshot).values(taken_at=utcnow() - timedelta(seconds=30)))
    fake.schemas[main_id] = []
    assert ">0<" in html(browser.get("/acme/fresh"))  # the database page too
