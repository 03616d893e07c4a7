"""What every client command shares: finding the API, calling it, printing results."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

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
