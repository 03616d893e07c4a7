"""The ``moonbase`` command: ``up`` runs the platform; the rest are clients of its API,
named after ``pscale``'s nouns and verbs."""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from moonbase import settings as settings_mod
from moonbase.cli.client import ApiError, Client

app = typer.Typer(no_args_is_help=True, help="Moonbase: the PlanetScale API on your own machines.")
database_app = typer.Typer(no_args_is_help=True, help="Create, list, show and delete databases.")
password_app = typer.Typer(no_args_is_help=True, help="Passwords of mysql database branches.")
role_app = typer.Typer(no_args_is_help=True, help="Roles of postgresql database branches.")
org_app = typer.Typer(no_args_is_help=True, help="Organizations.")
region_app = typer.Typer(no_args_is_help=True, help="Regions.")
size_app = typer.Typer(no_args_is_help=True, help="Cluster sizes.")
app.add_typer(database_app, name="database")
app.add_typer(password_app, name="password")
app.add_typer(role_app, name="role")
app.add_typer(org_app, name="org")
app.add_typer(region_app, name="region")
app.add_typer(size_app, name="size")

console = Console()
err = Console(stderr=True)


class Format(StrEnum):
    human = "human"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
_state: dict[str, Any] = {}


@app.callback()
def _global(
    api_url: Annotated[str | None, typer.Option(help="Moonbase API URL.")] = None,
    org: Annotated[str | None, typer.Option(help="Organization.")] = None,
    service_token_id: Annotated[str | None, typer.Option(help="Service token id.")] = None,
    service_token: Annotated[str | None, typer.Option(help="Service token.")] = None,
) -> None:
    _state.update(url=api_url, organization=org, token_id=service_token_id, token=service_token)


def client() -> Client:
    resolved = settings_mod.client_from_env(**_state)
    if resolved is None:
        err.print(
            "[red]No Moonbase to talk to.[/red] Start one with `moonbase up` (it saves its "
            "admin token for this CLI), or set MOONBASE_URL, MOONBASE_ORG, MOONBASE_TOKEN_ID "
            "and MOONBASE_TOKEN."
        )
        raise typer.Exit(2)
    return Client(resolved)


def call(method: str, path: str, **kwargs: Any) -> Any:
    try:
        return client().request(method, path, **kwargs)
    except ApiError as exc:
        err.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from exc


def call_list(path: str) -> list[dict[str, Any]]:
    try:
        return client().list_all(path)
    except ApiError as exc:
        err.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from exc


def show(data: Any, fmt: Format, columns: list[str]) -> None:
    if fmt == Format.json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    rows = data if isinstance(data, list) else [data]
    table = Table(*[c.upper().replace("_", " ") for c in columns])
    for row in rows:
        table.add_row(*[_cell(row, c) for c in columns])
    console.print(table)


def _cell(row: dict[str, Any], column: str) -> str:
    value: Any = row
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


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

    overrides: dict[str, object] = {
        "host": host,
        "port": port,
        "home": data_dir,
        "store_url": store_url,
        "organization": org,
        "regions": settings_mod.parse_regions(regions) if regions else None,
    }
    settings = settings_mod.from_env(None, **overrides)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")

    def first_start(admin: Any) -> None:
        console.print(
            f"\n[bold]Moonbase is set up.[/bold] Organization: [cyan]{admin.organization}[/cyan]\n"
            f"Admin service token (shown once; saved for the moonbase CLI in "
            f"{settings.home / 'cli.json'}):\n\n"
            f"  export PLANETSCALE_SERVICE_TOKEN_ID={admin.token_id}\n"
            f"  export PLANETSCALE_SERVICE_TOKEN={admin.token}\n\n"
            f'  curl -H "Authorization: {admin.token_id}:{admin.token}" '
            f"{settings.base_url}/v1/organizations/{admin.organization}/databases\n"
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


# --- organizations, regions, sizes ------------------------------------------------------


@org_app.command("list")
def org_list(fmt: FormatOpt = Format.human) -> None:
    """List organizations."""
    show(call("GET", "/organizations")["data"], fmt, ["name", "database_count", "created_at"])


@region_app.command("list")
def region_list(fmt: FormatOpt = Format.human) -> None:
    """List the regions of this installation."""
    data = call("GET", f"/organizations/{client().org}/regions")["data"]
    show(data, fmt, ["slug", "display_name", "location", "current_default"])


@size_app.command("list")
def size_list(
    engine: Annotated[str, typer.Option(help="mysql or postgresql.")] = "mysql",
    fmt: FormatOpt = Format.human,
) -> None:
    """List cluster sizes."""
    data = call(
        "GET", f"/organizations/{client().org}/cluster-size-skus", params={"engine": engine}
    )
    show(data, fmt, ["name", "cpu", "ram", "development", "production"])


# --- databases --------------------------------------------------------------------------

DB_COLUMNS = ["name", "kind", "state", "ready", "region.slug", "cluster_size", "replicas"]


@database_app.command("create")
def database_create(
    name: str,
    kind: Annotated[str, typer.Option("--kind", "--engine", help="mysql or postgresql.")] = "mysql",
    cluster_size: Annotated[str, typer.Option(help="Cluster size, e.g. PS_10.")] = "PS_10",
    region: Annotated[str | None, typer.Option(help="Region slug.")] = None,
    replicas: Annotated[int | None, typer.Option(help="0, or 2 and more for HA.")] = None,
    major_version: Annotated[str | None, typer.Option(help="PostgreSQL major version.")] = None,
    wait: Annotated[bool, typer.Option(help="Show progress until the database is ready.")] = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Create a database."""
    body: dict[str, Any] = {"name": name, "kind": kind, "cluster_size": cluster_size}
    for key, value in (
        ("region", region),
        ("replicas", replicas),
        ("major_version", major_version),
    ):
        if value is not None:
            body[key] = value
    db = call("POST", client().db_path(), json=body)
    if wait:
        db = _wait_ready(name, fmt)
    show(db, fmt, DB_COLUMNS)


def _wait_ready(name: str, fmt: Format, timeout: float = 600.0) -> dict[str, Any]:
    c = client()
    deadline = time.monotonic() + timeout
    last = ""
    with err.status(f"waiting for {name} to be ready") as status:
        while True:
            db = call("GET", c.db_path(name))
            if db["ready"]:
                return db  # type: ignore[no-any-return]
            branch = call("GET", f"{c.db_path(name)}/branches/{db['default_branch']}")
            line = (branch.get("status") or {}).get("verdict") or "pending"
            if line != last and fmt == Format.human:
                status.update(f"{name}: {line}")
                last = line
            if time.monotonic() > deadline:
                err.print(f"[red]{name} is not ready after {timeout:.0f} s:[/red] {line}")
                raise typer.Exit(1)
            time.sleep(0.2)


@database_app.command("list")
def database_list(fmt: FormatOpt = Format.human) -> None:
    """List databases."""
    show(call_list(client().db_path()), fmt, DB_COLUMNS)


@database_app.command("show")
def database_show(name: str, fmt: FormatOpt = Format.human) -> None:
    """Show a database."""
    show(call("GET", client().db_path(name)), fmt, [*DB_COLUMNS, "created_at"])


@database_app.command("delete")
def database_delete(
    name: str, force: Annotated[bool, typer.Option(help="Do not ask.")] = False
) -> None:
    """Delete a database: its servers are stopped and its files removed."""
    if not force and not typer.confirm(f"Delete database {name} and all its data?"):
        raise typer.Exit(1)
    call("DELETE", client().db_path(name))
    err.print(f"Database {name} deleted.")


# --- credentials ------------------------------------------------------------------------

PW_COLUMNS = ["id", "name", "role", "username", "access_host_url", "expires_at"]
ROLE_COLUMNS = ["id", "name", "username", "inherited_roles", "access_host_url", "expires_at"]


@password_app.command("create")
def password_create(
    database: str,
    branch: str,
    name: Annotated[str | None, typer.Argument()] = None,
    role: Annotated[str, typer.Option(help="reader, writer, readwriter or admin.")] = "admin",
    ttl: Annotated[int | None, typer.Option(help="Seconds until it expires.")] = None,
    replica: Annotated[bool, typer.Option(help="Connect to a replica (reader).")] = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Create a password (shown once)."""
    body: dict[str, Any] = {"role": role, "replica": replica}
    if name:
        body["name"] = name
    if ttl:
        body["ttl"] = ttl
    pw = call("POST", f"{client().branch_path(database, branch)}/passwords", json=body)
    show(pw, fmt, [*PW_COLUMNS, "plain_text"])


@password_app.command("list")
def password_list(database: str, branch: str, fmt: FormatOpt = Format.human) -> None:
    """List passwords."""
    show(call_list(f"{client().branch_path(database, branch)}/passwords"), fmt, PW_COLUMNS)


@password_app.command("delete")
def password_delete(database: str, branch: str, password_id: str) -> None:
    """Delete a password; its sessions end."""
    call("DELETE", f"{client().branch_path(database, branch)}/passwords/{password_id}")
    err.print(f"Password {password_id} deleted.")


@role_app.command("create")
def role_create(
    database: str,
    branch: str,
    name: Annotated[str | None, typer.Argument()] = None,
    inherited_roles: Annotated[
        str, typer.Option(help="Comma-separated, e.g. pg_read_all_data,pg_write_all_data.")
    ] = "postgres",
    ttl: Annotated[int | None, typer.Option(help="Seconds until it expires.")] = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """Create a role (its password is shown once)."""
    body: dict[str, Any] = {
        "inherited_roles": [r.strip() for r in inherited_roles.split(",") if r.strip()]
    }
    if name:
        body["name"] = name
    if ttl:
        body["ttl"] = ttl
    role = call("POST", f"{client().branch_path(database, branch)}/roles", json=body)
    show(role, fmt, [*ROLE_COLUMNS, "password"])


@role_app.command("list")
def role_list(database: str, branch: str, fmt: FormatOpt = Format.human) -> None:
    """List roles."""
    show(call_list(f"{client().branch_path(database, branch)}/roles"), fmt, ROLE_COLUMNS)


@role_app.command("delete")
def role_delete(database: str, branch: str, role_id: str) -> None:
    """Delete a role; its sessions end."""
    call("DELETE", f"{client().branch_path(database, branch)}/roles/{role_id}")
    err.print(f"Role {role_id} deleted.")


if __name__ == "__main__":  # pragma: no cover
    app()
