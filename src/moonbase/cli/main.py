"""The ``moonbase`` command: ``up`` runs the platform; the rest are clients of its API,
named after ``pscale``'s nouns and verbs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from moonbase import settings as settings_mod
from moonbase.cli.audit_log import audit_log_app
from moonbase.cli.branches import branch_app, shell
from moonbase.cli.common import console, err, overrides
from moonbase.cli.credentials import password_app, role_app
from moonbase.cli.databases import database_app, org_app, region_app, size_app
from moonbase.cli.oauth_apps import oauth_app_app
from moonbase.cli.organizations import org_create, org_members
from moonbase.cli.service_tokens import service_token_app
from moonbase.cli.webhooks import webhook_app

app = typer.Typer(no_args_is_help=True, help="Moonbase: the PlanetScale API on your own machines.")
app.add_typer(database_app, name="database")
app.add_typer(audit_log_app, name="audit-log")
app.add_typer(branch_app, name="branch")
app.add_typer(password_app, name="password")
app.add_typer(role_app, name="role")
app.add_typer(org_app, name="org")
org_app.command("create")(org_create)  # installation admin: writes to the store
org_app.command("members")(org_members)
app.add_typer(region_app, name="region")
app.add_typer(size_app, name="size")
app.add_typer(webhook_app, name="webhook")
app.add_typer(service_token_app, name="service-token")
app.add_typer(oauth_app_app, name="oauth-app")  # installation admin: writes to the store
app.command()(shell)


@app.callback()
def _global(
    api_url: Annotated[str | None, typer.Option(help="Moonbase API URL.")] = None,
    org: Annotated[str | None, typer.Option(help="Organization.")] = None,
    service_token_id: Annotated[str | None, typer.Option(help="Service token id.")] = None,
    service_token: Annotated[str | None, typer.Option(help="Service token.")] = None,
) -> None:
    overrides.update(url=api_url, organization=org, token_id=service_token_id, token=service_token)


# --- up ---------------------------------------------------------------------------------


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Address to serve the API on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to serve the API on.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (MOONBASE_HOME).")
    ] = None,
    store_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
    org: Annotated[str | None, typer.Option("--org", help="First organization's name.")] = None,
    regions: Annotated[
        str | None, typer.Option(help="Regions offered: slug[=Display name],...")
    ] = None,
    keep_servers: Annotated[
        bool, typer.Option(help="Leave database servers running when Moonbase exits.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run Moonbase: the API and the reconciler, with the embedded store and local servers."""
    import logging

    import uvicorn

    from moonbase.app import create_app

    flags: dict[str, object] = {
        "host": host,
        "port": port,
        "home": data_dir,
        "store_url": store_url,
        "organization": org,
        "regions": settings_mod.parse_regions(regions) if regions else None,
    }
    settings = settings_mod.from_env(None, **flags)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")

    def first_start(admin: Any) -> None:
        console.print(
            f"\n[bold]Moonbase is set up.[/bold] Organization: [cyan]{admin.organization}[/cyan]"
        )
        if settings.admin_token:
            # it came from MOONBASE_ADMIN_TOKEN: the caller knows it; never echo it to a log
            console.print(f"Admin service token: {admin.token_id} (from MOONBASE_ADMIN_TOKEN)\n")
        else:
            console.print(
                f"Admin service token (shown once; saved for the moonbase CLI in "
                f"{settings.home / 'cli.json'}):\n\n"
                f"  export PLANETSCALE_SERVICE_TOKEN_ID={admin.token_id}\n"
                f"  export PLANETSCALE_SERVICE_TOKEN={admin.token}\n\n"
                f'  curl -H "Authorization: {admin.token_id}:{admin.token}" '
                f"{settings.base_url}/v1/organizations/{admin.organization}/databases\n"
            )
        if admin.admin_password:
            console.print(
                f"Administrator sign-in (web dashboard {settings.base_url}/ and OAuth consent "
                f"pages): {admin.admin_email} / {admin.admin_password}\n"
            )

    try:
        application = create_app(
            settings, on_first_start=first_start, stop_servers_on_exit=not keep_servers
        )
    except Exception as exc:  # noqa: BLE001 - show an actionable line, not a traceback
        err.print(f"[red]Moonbase could not start:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"Moonbase API on {settings.base_url}/v1 (data in {settings.home})")
    uvicorn.run(application, host=settings.host, port=settings.port, log_level=log_level)


if __name__ == "__main__":  # pragma: no cover
    app()
