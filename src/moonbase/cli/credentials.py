"""Client commands for credentials: MySQL passwords and PostgreSQL roles."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from moonbase.cli.common import Format, FormatOpt, call, call_list, client, err, show

password_app = typer.Typer(no_args_is_help=True, help="Passwords of mysql database branches.")
role_app = typer.Typer(no_args_is_help=True, help="Roles of postgresql database branches.")


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


@password_app.command("renew")
def password_renew(
    database: str, branch: str, password_id: str, fmt: FormatOpt = Format.human
) -> None:
    """Push a password's expiry one ttl further."""
    path = f"{client().branch_path(database, branch)}/passwords/{password_id}/renew"
    show(call("POST", path), fmt, PW_COLUMNS)


@password_app.command("update")
def password_update(
    database: str,
    branch: str,
    password_id: str,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    cidrs: Annotated[
        str | None, typer.Option(help="Comma-separated IPv4 ranges allowed to connect.")
    ] = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """Rename a password or change the networks it may connect from."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if cidrs is not None:
        body["cidrs"] = [c.strip() for c in cidrs.split(",") if c.strip()]
    path = f"{client().branch_path(database, branch)}/passwords/{password_id}"
    show(call("PATCH", path, json=body), fmt, [*PW_COLUMNS, "cidrs"])


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


@role_app.command("renew")
def role_renew(database: str, branch: str, role_id: str, fmt: FormatOpt = Format.human) -> None:
    """Push a role's expiry one ttl further."""
    path = f"{client().branch_path(database, branch)}/roles/{role_id}/renew"
    show(call("POST", path), fmt, ROLE_COLUMNS)


@role_app.command("reset")
def role_reset(database: str, branch: str, role_id: str, fmt: FormatOpt = Format.human) -> None:
    """Give a role a new password (shown once)."""
    path = f"{client().branch_path(database, branch)}/roles/{role_id}/reset"
    show(call("POST", path), fmt, [*ROLE_COLUMNS, "password"])
