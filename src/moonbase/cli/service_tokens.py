"""Client commands for service tokens and their accesses, as ``pscale service-token`` has them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from moonbase.cli.common import Format, FormatOpt, call, call_list, client, err, show

service_token_app = typer.Typer(
    no_args_is_help=True,
    help="Create, list and delete service tokens; grant and remove their accesses.",
)

TOKEN_COLUMNS = ["id", "name", "expires_at", "last_used_at", "created_at"]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="The database the accesses are on; without it they are organization-wide "
        "(for database accesses: on every database).",
    ),
]
AccessesArg = Annotated[list[str], typer.Argument(help="Access names, e.g. read_branch.")]


def _path(token_id: str = "", tail: str = "") -> str:
    path = f"/organizations/{client().org}/service-tokens"
    return f"{path}/{token_id}{tail}" if token_id else path


def _by_resource(accesses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per organization or database, with the accesses held there."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for item in accesses:
        key = (item["resource_type"], item["resource_id"])
        name = item["resource_name"]
        where = f"{name} (organization-wide)" if item["resource_type"] == "Organization" else name
        row = rows.setdefault(key, {"database": where, "accesses": []})
        row["accesses"].append(item["access"])
    return [{**row, "accesses": ", ".join(row["accesses"])} for row in rows.values()]


@service_token_app.command("create")
def create(
    name: Annotated[str | None, typer.Option(help="A name to tell the token by.")] = None,
    ttl: Annotated[
        int | None, typer.Option(help="Seconds until the token expires (default: never).")
    ] = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """Create a service token with no accesses; grant some with add-access."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if ttl is not None:
        body["ttl"] = ttl
    token = call("POST", _path(), json=body)
    show(token, fmt, ["id", "name", "token", "expires_at"])
    if fmt == Format.human:
        err.print(
            "The token is shown only this once. Use it as "
            f"Authorization: {token['id']}:<token>, or PLANETSCALE_SERVICE_TOKEN_ID / "
            "PLANETSCALE_SERVICE_TOKEN."
        )


@service_token_app.command("list")
def list_tokens(fmt: FormatOpt = Format.human) -> None:
    """List the organization's service tokens."""
    show(call_list(_path()), fmt, TOKEN_COLUMNS)


@service_token_app.command("delete")
def delete(
    token_id: Annotated[str, typer.Argument(help="The token's id.")],
    force: Annotated[bool, typer.Option(help="Do not ask.")] = False,
) -> None:
    """Delete a service token: it stops working at once."""
    if not force and not typer.confirm(f"Delete service token {token_id}?"):
        raise typer.Exit(1)
    call("DELETE", _path(token_id))
    err.print(f"Service token {token_id} deleted.")


@service_token_app.command("add-access")
def add_access(
    token_id: Annotated[str, typer.Argument(help="The token's id.")],
    accesses: AccessesArg,
    database: DatabaseOpt = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """Grant accesses to a service token (only ones you hold yourself)."""
    body = {"database": database or "", "access": accesses}
    added = call("POST", _path(token_id, "/access"), json=body)["data"]
    show(added if fmt == Format.json else _by_resource(added), fmt, ["database", "accesses"])


@service_token_app.command("delete-access")
def delete_access(
    token_id: Annotated[str, typer.Argument(help="The token's id.")],
    accesses: AccessesArg,
    database: DatabaseOpt = None,
) -> None:
    """Remove accesses from a service token."""
    body = {"database": database or "", "access": accesses}
    call("DELETE", _path(token_id, "/access"), json=body)
    where = f"database {database}" if database else "the organization"
    err.print(f"Accesses {', '.join(accesses)} removed on {where}.")


@service_token_app.command("show-access")
def show_access(
    token_id: Annotated[str, typer.Argument(help="The token's id.")],
    fmt: FormatOpt = Format.human,
) -> None:
    """Show what a service token may do, by organization and database."""
    accesses = call("GET", _path(token_id, "/access"))["data"]
    show(accesses if fmt == Format.json else _by_resource(accesses), fmt, ["database", "accesses"])
