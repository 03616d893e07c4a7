"""``moonbase audit-log list``: the organization's audit log, newest first (as ``pscale``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from moonbase.cli.common import Format, FormatOpt, call, client, console, show

audit_log_app = typer.Typer(no_args_is_help=True, help="The organization's audit log.")

#: the API's largest page; --limit beyond it pages through the log
PAGE = 100


def fetch(
    limit: int, actions: list[str], starting_after: str | None = None
) -> list[dict[str, Any]]:
    path = f"/organizations/{client().org}/audit-log"
    entries: list[dict[str, Any]] = []
    cursor = starting_after
    while len(entries) < limit:
        params: dict[str, Any] = {"limit": min(PAGE, limit - len(entries))}
        if cursor:
            params["starting_after"] = cursor
        if actions:
            params["filters[]"] = [f"audit_action:{a}" for a in actions]
        body = call("GET", path, params=params)
        entries.extend(body["data"])
        cursor = body.get("cursor_end")
        if not body.get("has_next") or not cursor:
            break
    return entries


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    target = entry.get("target_display_name") or entry.get("target_id") or ""
    return {
        "actor": entry.get("actor_display_name"),
        "action": f"{str(entry.get('action', '')).capitalize()} "
        f"{entry.get('auditable_display_name', '')}".strip(),
        "event": entry.get("audit_action"),
        "target": f"{entry.get('target_type') or ''} {target}".strip(),
        "remote_ip": entry.get("remote_ip"),
        "created_at": entry.get("created_at"),
    }


@audit_log_app.command("list")
def audit_log_list(
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="How many events to show, newest first.")
    ] = 25,
    action: Annotated[
        list[str] | None,
        typer.Option("--action", help="Only this event, e.g. database.created (repeatable)."),
    ] = None,
    starting_after: Annotated[
        str | None, typer.Option(help="Start after this audit log id (paging).")
    ] = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """List the audit log of the organization: who changed what, when, from where."""
    entries = fetch(limit, action or [], starting_after)
    if fmt == Format.human and not entries:
        console.print(f"No audit log entries in organization {client().org}.")
        return
    if fmt == Format.json:
        show(entries, fmt, [])
        return
    show([_row(e) for e in entries], fmt, ["actor", "action", "event", "target", "remote_ip",
                                           "created_at"])  # fmt: skip
