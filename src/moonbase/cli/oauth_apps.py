"""``moonbase oauth-app create|list``: an installation administrator's commands.

The spec has no endpoint that registers an OAuth application (PlanetScale does it in its web
UI), so these run on the Moonbase host and use the store directly, like ``moonbase org
create``; Moonbase may be running. The client secret is printed once: only its hash is kept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from moonbase import settings as settings_mod
from moonbase.cli.common import Format, FormatOpt, console, installation_session, show

oauth_app_app = typer.Typer(
    no_args_is_help=True,
    help="OAuth applications (administrators, on the Moonbase host: writes to the store).",
)

DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (MOONBASE_HOME).")
]
StoreUrlOpt = Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")]
OrgOpt = Annotated[
    str | None, typer.Option("--org", help="Organization (default: MOONBASE_ORG, or the only one).")
]
APP_COLUMNS = ["id", "name", "client_id", "redirect_uri", "scopes", "tokens"]


def _organization(session: Session, settings: settings_mod.Settings, org: str | None) -> Any:
    """--org; else MOONBASE_ORG's, or the only organization there is."""
    from sqlalchemy import select

    from moonbase.errors import NotFound
    from moonbase.models import Organization
    from moonbase.resources.oauth import repository

    name = org or settings.organization
    found = repository.organization_by_name(session, name)
    if found is None and org is None:
        orgs = list(session.scalars(select(Organization).limit(2)))
        found = orgs[0] if len(orgs) == 1 else None
    if found is None:
        raise NotFound(f"Organization '{name}' was not found (choose one with --org)")
    return found


@oauth_app_app.command("create")
def oauth_app_create(
    name: Annotated[str, typer.Option(help="The application's name (shown on the consent page).")],
    redirect_uri: Annotated[
        list[str],
        typer.Option(help="Exact redirect URI (repeat for several): https, or http://localhost."),
    ],
    scopes: Annotated[
        str,
        typer.Option(
            help='Scopes it may ask for, e.g. "organization:read_databases user:read_user".'
        ),
    ],
    org: OrgOpt = None,
    domain: Annotated[str | None, typer.Option(help="Default: the redirect URI's host.")] = None,
    avatar: Annotated[str, typer.Option(help="Image URL for the application.")] = "",
    data_dir: DataDirOpt = None,
    store_url: StoreUrlOpt = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """Register an OAuth application; prints its client_id and client secret (shown once)."""
    from moonbase.resources.oauth import service
    from moonbase.resources.oauth.schemas import application_json
    from moonbase.resources.oauth.scopes import parse

    settings = settings_mod.from_env(None, home=data_dir, store_url=store_url)
    with installation_session(settings) as session:
        organization = _organization(session, settings, org)
        app, secret = service.register_application(
            session, organization, name, redirect_uri, parse(scopes), domain=domain, avatar=avatar
        )
        body, org_name = application_json(app, 0), organization.name
    endpoints = {
        "authorize_url": f"{settings.base_url}/oauth/authorize",
        "token_url": f"{settings.base_url}/oauth/token",
    }
    if fmt == Format.json:
        out = {**body, "organization": org_name, "client_secret": secret, **endpoints}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    console.print(
        f"\n[bold]OAuth application [cyan]{body['name']}[/cyan] registered in "
        f"{org_name}.[/bold]\n\n"
        f"  client_id:     {body['client_id']}\n"
        f"  client_secret: {secret}   (shown once)\n"
        f"  scopes:        {body['scopes']}\n"
        f"  redirect URIs: {' '.join(body['redirect_uris'])}\n\n"
        f"  authorize at   {endpoints['authorize_url']}\n"
        f"  tokens from    {endpoints['token_url']}\n"
    )


@oauth_app_app.command("list")
def oauth_app_list(
    org: OrgOpt = None,
    data_dir: DataDirOpt = None,
    store_url: StoreUrlOpt = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """List the organization's OAuth applications (never their secrets)."""
    from moonbase.resources.oauth import repository
    from moonbase.resources.oauth.schemas import application_json

    settings = settings_mod.from_env(None, home=data_dir, store_url=store_url)
    with installation_session(settings) as session:
        organization = _organization(session, settings, org)
        apps, _ = repository.applications(session, organization.id)
        counts = repository.token_counts(session, [a.id for a in apps])
        data = [application_json(a, counts.get(a.id, 0)) for a in apps]
    if fmt == Format.json:
        for item in data:  # the long scope tables are for the API; keep the listing readable
            item.pop("all_scopes_by_resource", None)
    show(data, fmt, APP_COLUMNS)
