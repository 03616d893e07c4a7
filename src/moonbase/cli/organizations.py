"""``moonbase org create`` (an installation administrator's command, run on the Moonbase
host: it writes to the store, see ``moonbase.tenancy``) and ``moonbase org members`` (a
client of the API, like the other client commands)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from moonbase import settings as settings_mod
from moonbase.cli.common import (
    Format,
    FormatOpt,
    call_list,
    client,
    console,
    installation_session,
    show,
)

MEMBER_COLUMNS = ["user.id", "user.email", "user.name", "role", "created_at"]


def org_create(
    name: Annotated[str, typer.Argument(help="The new organization's name.")],
    admin_email: Annotated[
        str | None,
        typer.Option(help="Make this user (existing, or new with a generated password) admin."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (MOONBASE_HOME).")
    ] = None,
    store_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """Create an organization on this installation, with an admin service token (shown once).

    Run it on the Moonbase host: it writes to the store directly (Moonbase may be running)."""
    from moonbase.tenancy import create_organization

    settings = settings_mod.from_env(None, home=data_dir, store_url=store_url)
    with installation_session(settings) as session:
        made = create_organization(
            session, name, default_region=settings.regions[0].slug, admin_email=admin_email
        )

    if fmt == Format.json:
        body: dict[str, Any] = {
            "organization": made.organization,
            "id": made.organization_id,
            "url": settings.base_url,
            "token_id": made.token_id,
            "token": made.token,
            "admin": None,
        }
        if made.admin_user_id is not None:
            body["admin"] = {"id": made.admin_user_id, "email": made.admin_email}
            if made.admin_password is not None:
                body["admin"]["password"] = made.admin_password
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        return
    console.print(
        f"\n[bold]Organization [cyan]{made.organization}[/cyan] created.[/bold]\n"
        f"Its admin service token (shown once):\n\n"
        f"  export PLANETSCALE_ORG={made.organization}\n"
        f"  export PLANETSCALE_SERVICE_TOKEN_ID={made.token_id}\n"
        f"  export PLANETSCALE_SERVICE_TOKEN={made.token}\n"
    )
    if made.admin_email is not None:
        if made.admin_password is not None:
            console.print(
                f"Admin: new user {made.admin_email}, password (shown once): "
                f"{made.admin_password}\n"
            )
        else:
            console.print(f"Admin: {made.admin_email} (existing user)\n")


def org_members(fmt: FormatOpt = Format.human) -> None:
    """List the members of the organization (--org, or the configured one)."""
    data = call_list(f"/organizations/{client().org}/members")
    show(data, fmt, MEMBER_COLUMNS)
