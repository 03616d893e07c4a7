"""Client commands for organizations, regions, sizes and databases."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from moonbase.cli.common import Format, FormatOpt, call, call_list, client, err, show

org_app = typer.Typer(no_args_is_help=True, help="Organizations.")
region_app = typer.Typer(no_args_is_help=True, help="Regions.")
size_app = typer.Typer(no_args_is_help=True, help="Cluster sizes.")
database_app = typer.Typer(no_args_is_help=True, help="Create, list, show and delete databases.")


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
