"""What every client command shares: finding the API, calling it, printing results."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from moonbase import settings as settings_mod
from moonbase.cli.client import ApiError, Client

console = Console()
err = Console(stderr=True)


class Format(StrEnum):
    human = "human"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
#: --api-url, --org and token flags given before the command
overrides: dict[str, Any] = {}


def client() -> Client:
    resolved = settings_mod.client_from_env(**overrides)
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


@contextmanager
def installation_session(settings: settings_mod.Settings) -> Iterator[Session]:
    """A transaction on an installation's store, for the administrator commands that run on
    the Moonbase host (Moonbase may be running); exits 2 when there is no installation."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from moonbase.errors import MoonbaseError
    from moonbase.models import Organization
    from moonbase.store.db import Store

    not_set_up = (
        f"[red]No Moonbase installation at {settings.home}.[/red] Start it once with "
        "`moonbase up`, or point --data-dir / --store-url at it."
    )
    if settings.store_url is None and not (settings.home / "moonbase.db").exists():
        err.print(not_set_up)
        raise typer.Exit(2)
    store = Store(settings.store)
    try:
        with store.tx() as session:
            if session.scalar(select(Organization.id).limit(1)) is None:
                err.print(not_set_up)
                raise typer.Exit(2)
            yield session
    except MoonbaseError as exc:
        err.print(f"[red]Error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    except SQLAlchemyError as exc:
        err.print(f"{not_set_up}\n({type(exc).__name__}: {exc})")
        raise typer.Exit(2) from exc
    finally:
        store.dispose()
