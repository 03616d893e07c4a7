"""Organization teams (``{team}`` is the slug) and their members."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from moonbase.api.deps import Ctx
from moonbase.api.pagination import PageDep, envelope
from moonbase.models import Organization, Team
from moonbase.resources.teams import repository, service
from moonbase.resources.teams.schemas import (
    TeamCreate,
    TeamMemberAdd,
    TeamUpdate,
    team_json,
    team_member_json,
)
from moonbase.resources.users.service import caller

router = APIRouter(prefix="/organizations/{organization}/teams")


def _one(ctx: Ctx, team: Team, org: Organization) -> dict[str, Any]:
    return team_json(team, repository.users_of(ctx.session, [team.id])[team.id], org)


def _team(ctx: Ctx, organization: str, team: str, operation: str) -> tuple[Organization, Team]:
    org = ctx.organization(organization, operation)
    return org, repository.get(ctx.session, org.id, team)


def _admin(ctx: Ctx, org: Organization) -> None:
    service.require_admin(caller(ctx.session, ctx.principal, org.id))


@router.get("", operation_id="list_organization_teams")
def list_organization_teams(
    ctx: Ctx,
    organization: str,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    org = ctx.organization(organization, "list_organization_teams")
    teams, total = repository.page(ctx.session, org.id, q, page.offset, page.per_page)
    users = repository.users_of(ctx.session, [t.id for t in teams])
    items = [team_json(t, users[t.id], org) for t in teams]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.post("", operation_id="create_organization_team")
def create_organization_team(ctx: Ctx, organization: str, body: TeamCreate) -> dict[str, Any]:
    org = ctx.organization(organization, "create_organization_team")
    _admin(ctx, org)
    team = service.create(ctx.session, org.id, body, ctx.principal)
    return team_json(team, [], org)


@router.get("/{team}", operation_id="get_organization_team")
def get_organization_team(ctx: Ctx, organization: str, team: str) -> dict[str, Any]:
    org, found = _team(ctx, organization, team, "get_organization_team")
    return _one(ctx, found, org)


@router.patch("/{team}", operation_id="update_organization_team")
def update_organization_team(
    ctx: Ctx, organization: str, team: str, body: TeamUpdate
) -> dict[str, Any]:
    org, found = _team(ctx, organization, team, "update_organization_team")
    _admin(ctx, org)
    service.update(ctx.session, found, body)
    return _one(ctx, found, org)


@router.delete("/{team}", operation_id="delete_organization_team", status_code=204)
def delete_organization_team(ctx: Ctx, organization: str, team: str) -> Response:
    org, found = _team(ctx, organization, team, "delete_organization_team")
    _admin(ctx, org)
    service.delete(ctx.session, found)
    return Response(status_code=204)


@router.get("/{team}/members", operation_id="list_organization_team_members")
def list_organization_team_members(
    ctx: Ctx, organization: str, team: str, page: PageDep
) -> dict[str, Any]:
    org, found = _team(ctx, organization, team, "list_organization_team_members")
    rows, total = repository.member_page(ctx.session, found.id, page.offset, page.per_page)
    items = [team_member_json(m, u, org) for m, u in rows]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.post("/{team}/members", operation_id="add_organization_team_member")
def add_organization_team_member(
    ctx: Ctx, organization: str, team: str, body: TeamMemberAdd
) -> dict[str, Any]:
    org, found = _team(ctx, organization, team, "add_organization_team_member")
    _admin(ctx, org)
    membership, user = service.add_member(ctx.session, found, body.user_id, ctx.principal)
    return team_member_json(membership, user, org)


@router.get("/{team}/members/{id}", operation_id="get_organization_team_member")
def get_organization_team_member(ctx: Ctx, organization: str, team: str, id: str) -> dict[str, Any]:
    org, found = _team(ctx, organization, team, "get_organization_team_member")
    membership, user = repository.member(ctx.session, found.id, id)
    return team_member_json(membership, user, org)


@router.delete(
    "/{team}/members/{id}", operation_id="remove_organization_team_member", status_code=204
)
def remove_organization_team_member(
    ctx: Ctx,
    organization: str,
    team: str,
    id: str,
    # accepted for compatibility: no password is ever created through a Moonbase team
    delete_passwords: bool = False,
) -> Response:
    org, found = _team(ctx, organization, team, "remove_organization_team_member")
    _admin(ctx, org)
    membership, _ = repository.member(ctx.session, found.id, id)
    service.remove_member(ctx.session, membership)
    return Response(status_code=204)
