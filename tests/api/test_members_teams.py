"""Organization members and teams: shapes (validated against the spec), the rules that keep
an organization governable, and isolation between organizations."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moonbase.models import Credential, Membership, OAuthToken, Team, TeamMembership

from api_support import (
    add_organization,
    assert_error,
    create_db,
    org_id,
    org_path,
    service_token,
    store,
    wait_ready,
)
from contract import assert_matches_spec
from people_support import add_user, admin_user_id, emails, role_of, user_token

MEMBERS = f"{org_path()}/members"
TEAMS = f"{org_path()}/teams"
WRITE_ORG = ["organization:write_organization", "organization:read_organization"]
WRITE_ALL = [*WRITE_ORG, "organization:manage_production_branch_passwords"]


def counts(app: FastAPI) -> tuple[int, int, int]:
    """(memberships, teams, team memberships) in the store."""
    with store(app).tx() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(model)) or 0
            for model in (Membership, Team, TeamMembership)
        )


# --- members --------------------------------------------------------------------------------


def test_list_and_get_members(api: TestClient, app: FastAPI) -> None:
    ada = add_user(app, "ada@example.com")
    add_user(app, "grace@example.com", role="admin")
    body = api.get(MEMBERS).json()
    assert_matches_spec("list_organization_members", 200, body)
    assert emails(body) == ["admin@localhost", "ada@example.com", "grace@example.com"]
    assert [m["role"] for m in body["data"]] == ["admin", "member", "admin"]
    assert body["data"][1]["user"]["default_organization"]["name"] == "acme"

    assert emails(api.get(MEMBERS, params={"q": "GRACE"}).json()) == ["grace@example.com"]
    assert emails(api.get(MEMBERS, params={"q": "ad"}).json()) == [
        "admin@localhost", "ada@example.com",
    ]  # fmt: skip
    assert emails(api.get(MEMBERS, params={"q": "%"}).json()) == []  # not a wildcard
    page = api.get(MEMBERS, params={"per_page": 2, "page": 2}).json()
    assert emails(page) == ["grace@example.com"] and page["total_count"] == 3
    assert page["prev_page"] == 1 and page["next_page"] is None

    one = api.get(f"{MEMBERS}/{ada}")
    assert one.status_code == 200, one.text
    assert_matches_spec("get_organization_membership", 200, one.json())
    assert one.json()["user"]["id"] == ada and one.json()["role"] == "member"
    assert_error(api.get(f"{MEMBERS}/nosuchuser00"), 404, "not_found")


def test_change_a_role(api: TestClient, app: FastAPI) -> None:
    ada = add_user(app, "ada@example.com")
    response = api.patch(f"{MEMBERS}/{ada}", json={"role": "admin"})
    assert response.status_code == 200, response.text
    assert_matches_spec("update_organization_membership", 200, response.json())
    assert response.json()["role"] == "admin" and role_of(app, ada) == "admin"
    assert api.patch(f"{MEMBERS}/{ada}", json={"role": "member"}).json()["role"] == "member"
    assert role_of(app, ada) == "member"


def test_bad_role_changes_are_refused(api: TestClient, app: FastAPI) -> None:
    ada = add_user(app, "ada@example.com")
    url = f"{MEMBERS}/{ada}"
    assert_error(api.patch(url, json={"role": "owner"}), 422, "unprocessable")
    assert_error(api.patch(url, json={"role": 1}), 422, "unprocessable")
    assert_error(api.patch(url, json={}), 422, "unprocessable")
    assert_error(api.patch(url, content=b"role=admin"), 400, "bad_request")
    assert_error(api.patch(f"{MEMBERS}/nosuchuser00", json={"role": "admin"}), 404, "not_found")
    assert role_of(app, ada) == "member"


def test_the_last_admin_stays(api: TestClient, app: FastAPI) -> None:
    admin = admin_user_id(app)
    body = assert_error(api.patch(f"{MEMBERS}/{admin}", json={"role": "member"}), 422,
                        "unprocessable")  # fmt: skip
    assert "last admin" in body["message"]
    assert_error(api.delete(f"{MEMBERS}/{admin}"), 422, "unprocessable")
    assert role_of(app, admin) == "admin"

    # with a second admin, either may go
    ada = add_user(app, "ada@example.com", role="admin")
    assert api.patch(f"{MEMBERS}/{admin}", json={"role": "member"}).status_code == 200
    assert_error(api.delete(f"{MEMBERS}/{ada}"), 422, "unprocessable")  # now ada is the last
    assert api.patch(f"{MEMBERS}/{admin}", json={"role": "admin"}).status_code == 200
    assert api.delete(f"{MEMBERS}/{ada}").status_code == 204
    assert role_of(app, ada) is None


def test_a_member_cannot_make_anyone_admin(api: TestClient, app: FastAPI) -> None:
    """People act with their role: a member holding the write_organization scope still may
    not grant admin (nor demote or remove others); an admin may."""
    ada = add_user(app, "ada@example.com")
    bob = add_user(app, "bob@example.com")
    as_ada = user_token(app, ada, WRITE_ORG)
    forbidden = api.patch(f"{MEMBERS}/{bob}", json={"role": "admin"}, headers=as_ada)
    assert_error(forbidden, 403, "forbidden")
    assert_matches_spec("update_organization_membership", 403, forbidden.json())
    admin = admin_user_id(app)
    assert_error(api.patch(f"{MEMBERS}/{admin}", json={"role": "member"}, headers=as_ada), 403,
                 "forbidden")  # fmt: skip
    assert_error(api.delete(f"{MEMBERS}/{bob}", headers=as_ada), 403, "forbidden")
    assert_error(api.patch(f"{MEMBERS}/{ada}", json={"role": "admin"}, headers=as_ada), 422,
                 "unprocessable")  # not even oneself  # fmt: skip
    assert (role_of(app, ada), role_of(app, bob), role_of(app, admin)) == (
        "member", "member", "admin",
    )  # fmt: skip

    as_admin = user_token(app, admin, WRITE_ORG)
    promoted = api.patch(f"{MEMBERS}/{bob}", json={"role": "admin"}, headers=as_admin)
    assert promoted.status_code == 200, promoted.text
    assert_error(api.patch(f"{MEMBERS}/{admin}", json={"role": "member"}, headers=as_admin),
                 422, "unprocessable")  # own role  # fmt: skip
    assert role_of(app, bob) == "admin"


def test_leaving(api: TestClient, app: FastAPI) -> None:
    ada = add_user(app, "ada@example.com")
    as_ada = user_token(app, ada, WRITE_ORG)
    body = assert_error(api.delete(f"{MEMBERS}/{ada}", headers=as_ada), 422, "unprocessable")
    assert "only organization" in body["message"]
    globex, _ = add_organization(app, "globex")
    add_user(app, "ada@example.com", organization_id=globex)
    assert_error(api.delete(f"{MEMBERS}/{ada}", params={"delete_passwords": "true"},
                            headers=as_ada), 422, "unprocessable")  # fmt: skip
    assert api.delete(f"{MEMBERS}/{ada}", headers=as_ada).status_code == 204
    assert role_of(app, ada) is None and role_of(app, ada, globex) == "member"
    # the token she held here is revoked with her membership
    assert_error(api.get(MEMBERS, headers=as_ada), 401, "unauthorized")


def test_removing_a_member_revokes_what_they_held(api: TestClient, app: FastAPI) -> None:
    ada = add_user(app, "ada@example.com")
    as_ada = user_token(app, ada, [*WRITE_ALL, "organization:create_databases"])
    create_db(api, "shop")
    wait_ready(api, "shop")
    made = api.post(f"{org_path()}/databases/shop/branches/main/passwords", json={"name": "a"},
                    headers=as_ada)  # fmt: skip
    assert made.status_code == 201, made.text
    team = api.post(TEAMS, json={"name": "Ops"}).json()
    assert api.post(f"{TEAMS}/ops/members", json={"user_id": ada}).status_code == 200
    passwords = f"{org_path()}/databases/shop/branches/main/passwords"
    assert [p["id"] for p in api.get(passwords).json()["data"]] == [made.json()["id"]]
    before = counts(app)

    assert api.delete(f"{MEMBERS}/{ada}", params={"delete_passwords": "true"}).status_code == 204
    assert counts(app) == (before[0] - 1, before[1], before[2] - 1)
    assert api.get(f"{TEAMS}/{team['slug']}").json()["members"] == []
    assert_error(api.get(f"{MEMBERS}/{ada}"), 404, "not_found")
    assert_error(api.get(MEMBERS, headers=as_ada), 401, "unauthorized")
    with store(app).tx() as s:
        cred = s.get(Credential, made.json()["id"])
        # hidden at once; the reconciler drops the login, then the row
        assert cred is None or cred.deleted_at is not None
        assert all(t.expires_at is not None for t in s.scalars(select(OAuthToken)))
    assert api.get(passwords).json()["data"] == []


# --- teams ----------------------------------------------------------------------------------


def test_team_lifecycle(api: TestClient, app: FastAPI) -> None:
    made = api.post(TEAMS, json={"name": "Platform Team", "description": "Owns the platform"})
    assert made.status_code == 200, made.text
    team = made.json()
    assert_matches_spec("create_organization_team", 200, team)
    assert (team["name"], team["slug"], team["description"]) == (
        "Platform Team", "platform-team", "Owns the platform",
    )  # fmt: skip
    assert team["members"] == [] and team["creator"]["id"] == "admintoken01"

    for ref in ("platform-team", team["id"]):
        got = api.get(f"{TEAMS}/{ref}")
        assert got.status_code == 200, got.text
        assert_matches_spec("get_organization_team", 200, got.json())
        assert got.json()["id"] == team["id"]

    api.post(TEAMS, json={"name": "Data"})
    listed = api.get(TEAMS).json()
    assert_matches_spec("list_organization_teams", 200, listed)
    assert [t["slug"] for t in listed["data"]] == ["platform-team", "data"]
    assert [t["slug"] for t in api.get(TEAMS, params={"q": "plat"}).json()["data"]] == [
        "platform-team"
    ]

    renamed = api.patch(f"{TEAMS}/platform-team", json={"name": "Infra"})
    assert renamed.status_code == 200, renamed.text
    assert_matches_spec("update_organization_team", 200, renamed.json())
    assert renamed.json()["slug"] == "infra" and renamed.json()["id"] == team["id"]
    assert renamed.json()["description"] == "Owns the platform"
    cleared = api.patch(f"{TEAMS}/infra", json={"description": None}).json()
    assert cleared["description"] is None and cleared["name"] == "Infra"
    assert_error(api.get(f"{TEAMS}/platform-team"), 404, "not_found")

    assert api.delete(f"{TEAMS}/infra").status_code == 204
    assert_error(api.get(f"{TEAMS}/infra"), 404, "not_found")
    assert_error(api.delete(f"{TEAMS}/infra"), 404, "not_found")
    assert [t["slug"] for t in api.get(TEAMS).json()["data"]] == ["data"]


def test_bad_teams_are_refused(api: TestClient, app: FastAPI) -> None:
    assert api.post(TEAMS, json={"name": "Data"}).status_code == 200
    before = counts(app)
    for body in (
        {"name": "data"},  # the same slug
        {"name": "  "},
        {"name": "!!!"},
        {"name": "x" * 256},
        {"name": 5},
        {"description": "no name"},
        {"name": "ok", "description": "x" * 2000},
    ):
        assert_error(api.post(TEAMS, json=body), 422, "unprocessable")
    assert_error(api.post(TEAMS, content=b"not json"), 400, "bad_request")
    assert_error(api.post(TEAMS, json=["Data"]), 400, "bad_request")
    api.post(TEAMS, json={"name": "Ops"})
    assert_error(api.patch(f"{TEAMS}/ops", json={"name": "DATA"}), 422, "unprocessable")
    assert_error(api.patch(f"{TEAMS}/ops", json={"name": None}), 422, "unprocessable")
    assert_error(api.patch(f"{TEAMS}/nope", json={"name": "x"}), 404, "not_found")
    assert counts(app) == (before[0], before[1] + 1, before[2])
    assert api.get(f"{TEAMS}/ops").json()["name"] == "Ops"


def test_team_members(api: TestClient, app: FastAPI) -> None:
    ada = add_user(app, "ada@example.com")
    api.post(TEAMS, json={"name": "Ops"})
    added = api.post(f"{TEAMS}/ops/members", json={"user_id": ada})
    assert added.status_code == 200, added.text
    assert_matches_spec("add_organization_team_member", 200, added.json())
    membership = added.json()
    assert membership["user"]["id"] == ada and membership["actor"]["id"] == "admintoken01"

    listed = api.get(f"{TEAMS}/ops/members").json()
    assert_matches_spec("list_organization_team_members", 200, listed)
    assert emails(listed) == ["ada@example.com"]
    assert [u["id"] for u in api.get(f"{TEAMS}/ops").json()["members"]] == [ada]
    for ref in (membership["id"], ada):
        got = api.get(f"{TEAMS}/ops/members/{ref}")
        assert got.status_code == 200, got.text
        assert_matches_spec("get_organization_team_member", 200, got.json())

    before = counts(app)
    assert_error(api.post(f"{TEAMS}/ops/members", json={"user_id": ada}), 422, "unprocessable")
    assert_error(api.post(f"{TEAMS}/ops/members", json={"user_id": "nosuchuser00"}), 422,
                 "unprocessable")  # fmt: skip
    assert_error(api.post(f"{TEAMS}/ops/members", json={}), 422, "unprocessable")
    assert_error(api.post(f"{TEAMS}/nope/members", json={"user_id": ada}), 404, "not_found")
    assert counts(app) == before

    assert api.delete(f"{TEAMS}/ops/members/{ada}").status_code == 204
    assert_error(api.get(f"{TEAMS}/ops/members/{ada}"), 404, "not_found")
    assert_error(api.delete(f"{TEAMS}/ops/members/{ada}"), 404, "not_found")
    assert role_of(app, ada) == "member"  # still in the organization
    # deleting a team takes its memberships along
    api.post(f"{TEAMS}/ops/members", json={"user_id": ada})
    assert api.delete(f"{TEAMS}/ops").status_code == 204
    assert counts(app)[1:] == (0, 0)


def test_only_admins_change_teams(api: TestClient, app: FastAPI) -> None:
    ada = add_user(app, "ada@example.com")
    as_ada = user_token(app, ada, WRITE_ORG)
    api.post(TEAMS, json={"name": "Ops"})
    before = counts(app)
    assert_error(api.post(TEAMS, json={"name": "Mine"}, headers=as_ada), 403, "forbidden")
    assert_error(api.patch(f"{TEAMS}/ops", json={"name": "X"}, headers=as_ada), 403, "forbidden")
    assert_error(api.post(f"{TEAMS}/ops/members", json={"user_id": ada}, headers=as_ada), 403,
                 "forbidden")  # fmt: skip
    assert_error(api.delete(f"{TEAMS}/ops", headers=as_ada), 403, "forbidden")
    assert api.get(f"{TEAMS}/ops", headers=as_ada).status_code == 200  # reading is fine
    assert counts(app) == before
    as_admin = user_token(app, admin_user_id(app), WRITE_ORG)
    assert api.post(TEAMS, json={"name": "Mine"}, headers=as_admin).status_code == 200


# --- accesses -------------------------------------------------------------------------------


def test_accesses(api: TestClient, app: FastAPI) -> None:
    """read_organization reads; write_organization changes members; write_teams changes
    teams; nothing else does (the spec's lists)."""
    org = org_id(app)
    ada = add_user(app, "ada@example.com")
    api.post(TEAMS, json={"name": "Ops"})
    reader = service_token(app, [("read_organization", "Organization", org)])
    member_writer = service_token(app, [("write_organization", "Organization", org)])
    team_writer = service_token(app, [("write_teams", "Organization", org)])
    other = service_token(app, [("create_databases", "Organization", org)])

    reads = [MEMBERS, f"{MEMBERS}/{ada}", TEAMS, f"{TEAMS}/ops", f"{TEAMS}/ops/members"]
    for url in reads:
        assert api.get(url, headers=reader).status_code == 200, url
        for headers in (member_writer, team_writer, other):
            assert_error(api.get(url, headers=headers), 404, "not_found")

    patch = {"json": {"role": "admin"}}
    assert_error(api.patch(f"{MEMBERS}/{ada}", headers=reader, **patch), 404, "not_found")
    assert_error(api.patch(f"{MEMBERS}/{ada}", headers=team_writer, **patch), 404, "not_found")
    assert api.patch(f"{MEMBERS}/{ada}", headers=member_writer, **patch).status_code == 200

    team = {"json": {"name": "New"}}
    assert_error(api.post(TEAMS, headers=reader, **team), 404, "not_found")
    assert_error(api.post(TEAMS, headers=member_writer, **team), 404, "not_found")
    assert api.post(TEAMS, headers=team_writer, **team).status_code == 200
    add = {"json": {"user_id": ada}}
    assert_error(api.post(f"{TEAMS}/new/members", headers=member_writer, **add), 404,
                 "not_found")  # fmt: skip
    assert api.post(f"{TEAMS}/new/members", headers=team_writer, **add).status_code == 200
    assert_error(api.delete(f"{MEMBERS}/{ada}", headers=team_writer), 404, "not_found")
    assert api.delete(f"{MEMBERS}/{ada}", headers=member_writer).status_code == 204

    # OAuth: organization:read_organization reads, organization:write_organization writes
    oauth_reader = user_token(app, None, ["organization:read_organization"])
    assert api.get(TEAMS, headers=oauth_reader).status_code == 200
    assert_error(api.post(TEAMS, headers=oauth_reader, json={"name": "Z"}), 404, "not_found")
    oauth_writer = user_token(app, None, ["organization:write_organization"])
    assert api.post(TEAMS, headers=oauth_writer, json={"name": "Z"}).status_code == 200


# --- isolation ------------------------------------------------------------------------------


def test_organizations_do_not_see_each_others_people(api: TestClient, app: FastAPI) -> None:
    globex, as_globex = add_organization(app, "globex")
    ada = add_user(app, "ada@example.com")
    gus = add_user(app, "gus@example.com", organization_id=globex, role="admin")
    create_db(api, "shop")
    api.post(TEAMS, json={"name": "Ops"})
    api.post(f"{TEAMS}/ops/members", json={"user_id": ada})
    theirs = f"{org_path('globex')}"
    made = api.post(f"{theirs}/teams", json={"name": "Ops"}, headers=as_globex)
    assert made.status_code == 200, made.text
    before = counts(app)

    # acme's token sees nothing of globex, and the other way round
    for headers, org, user, db in ((dict(api.headers), "globex", gus, "gadgets"),
                                   (as_globex, "acme", ada, "shop")):  # fmt: skip
        base = org_path(org)
        for url in (f"{base}/members", f"{base}/members/{user}", f"{base}/teams",
                    f"{base}/teams/ops", f"{base}/teams/ops/members",
                    f"{base}/teams/ops/members/{user}", f"{base}/databases",
                    f"{base}/databases/{db}"):  # fmt: skip
            assert_error(api.get(url, headers=headers), 404, "not_found")
        assert_error(api.patch(f"{base}/members/{user}", json={"role": "member"},
                               headers=headers), 404, "not_found")  # fmt: skip
        assert_error(api.delete(f"{base}/members/{user}", headers=headers), 404, "not_found")
        assert_error(api.post(f"{base}/teams", json={"name": "Spy"}, headers=headers), 404,
                     "not_found")  # fmt: skip
        assert_error(api.patch(f"{base}/teams/ops", json={"name": "Spy"}, headers=headers), 404,
                     "not_found")  # fmt: skip
        assert_error(api.delete(f"{base}/teams/ops", headers=headers), 404, "not_found")
        assert_error(api.post(f"{base}/teams/ops/members", json={"user_id": user},
                              headers=headers), 404, "not_found")  # fmt: skip
        assert_error(api.delete(f"{base}/teams/ops/members/{user}", headers=headers), 404,
                     "not_found")  # fmt: skip

    # through its own organization's URLs, a token cannot reach the other's people either
    assert_error(api.get(f"{MEMBERS}/{gus}"), 404, "not_found")
    assert_error(api.patch(f"{MEMBERS}/{gus}", json={"role": "member"}), 404, "not_found")
    assert_error(api.delete(f"{MEMBERS}/{gus}"), 404, "not_found")
    assert_error(api.post(f"{TEAMS}/ops/members", json={"user_id": gus}), 422, "unprocessable")
    assert_error(api.post(f"{theirs}/teams/ops/members", json={"user_id": ada},
                          headers=as_globex), 422, "unprocessable")  # fmt: skip
    assert counts(app) == before
    assert role_of(app, gus, globex) == "admin"

    # each lists only its own; a user in both shows only the listing organization
    add_user(app, "ada@example.com", organization_id=globex)
    assert emails(api.get(MEMBERS).json()) == ["admin@localhost", "ada@example.com"]
    listed = api.get(f"{theirs}/members", headers=as_globex).json()
    assert emails(listed) == ["gus@example.com", "ada@example.com"]
    assert {m["user"]["default_organization"]["name"] for m in listed["data"]} == {"globex"}
    assert [t["members"] for t in api.get(f"{theirs}/teams", headers=as_globex).json()["data"]
            ] == [[]]  # fmt: skip
    assert api.get(f"{theirs}/databases", headers=as_globex).json()["data"] == []
