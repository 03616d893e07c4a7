"""Client commands for a database's webhooks (``pscale webhook``'s verbs)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from moonbase.cli.common import Format, FormatOpt, call, call_list, client, err, show

webhook_app = typer.Typer(no_args_is_help=True, help="Webhooks of a database.")

COLUMNS = ["id", "url", "enabled", "events", "last_sent_success", "last_sent_at"]
EventsOpt = Annotated[
    str | None,
    typer.Option(help="Comma-separated events, e.g. branch.ready,webhook.test."),
]


def _path(database: str, webhook_id: str = "") -> str:
    path = f"{client().db_path(database)}/webhooks"
    return f"{path}/{webhook_id}" if webhook_id else path


def _events(text: str) -> list[str]:
    return [e.strip() for e in text.split(",") if e.strip()]


@webhook_app.command("create")
def webhook_create(
    database: str,
    url: Annotated[str, typer.Option(help="Where events are sent (http or https).")],
    events: EventsOpt = None,
    enabled: Annotated[
        bool, typer.Option("--enabled/--disabled", help="Send events right away.")
    ] = True,
    fmt: FormatOpt = Format.human,
) -> None:
    """Create a webhook; its secret (to check each delivery's signature) is shown."""
    body: dict[str, Any] = {"url": url, "enabled": enabled}
    if events is not None:
        body["events"] = _events(events)
    show(call("POST", _path(database), json=body), fmt, [*COLUMNS, "secret"])


@webhook_app.command("list")
def webhook_list(database: str, fmt: FormatOpt = Format.human) -> None:
    """List a database's webhooks."""
    show(call_list(_path(database)), fmt, COLUMNS)


@webhook_app.command("show")
def webhook_show(database: str, webhook_id: str, fmt: FormatOpt = Format.human) -> None:
    """Show a webhook, with its secret and how the last delivery went."""
    show(call("GET", _path(database, webhook_id)), fmt, [*COLUMNS, "last_sent_result", "secret"])


@webhook_app.command("update")
def webhook_update(
    database: str,
    webhook_id: str,
    url: Annotated[str | None, typer.Option(help="New URL.")] = None,
    events: EventsOpt = None,
    enabled: Annotated[
        bool | None, typer.Option("--enabled/--disabled", help="Turn deliveries on or off.")
    ] = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """Change a webhook's URL, events, or whether it is enabled."""
    body: dict[str, Any] = {}
    if url is not None:
        body["url"] = url
    if events is not None:
        body["events"] = _events(events)
    if enabled is not None:
        body["enabled"] = enabled
    show(call("PATCH", _path(database, webhook_id), json=body), fmt, COLUMNS)


@webhook_app.command("delete")
def webhook_delete(database: str, webhook_id: str) -> None:
    """Delete a webhook; deliveries not sent yet are dropped."""
    call("DELETE", _path(database, webhook_id))
    err.print(f"Webhook {webhook_id} deleted.")


@webhook_app.command("test")
def webhook_test(database: str, webhook_id: str) -> None:
    """Send a webhook.test event (at most once every 20 seconds per webhook)."""
    call("POST", f"{_path(database, webhook_id)}/test")
    err.print(f"Test event queued for webhook {webhook_id}.")
