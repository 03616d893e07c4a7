from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from moonbase.api.deps import Context, Ctx
from moonbase.api.pagination import PageDep, envelope
from moonbase.resources import lookups
from moonbase.resources.webhooks import repository, service
from moonbase.resources.webhooks.schemas import WebhookCreate, WebhookUpdate, webhook_json
from moonbase.webhooks.outbox import Outbox

router = APIRouter(prefix="/organizations/{organization}/databases/{database}/webhooks")


def _outbox(ctx: Context) -> Outbox:
    return ctx.request.app.state.webhooks  # type: ignore[no-any-return]


@router.get("", operation_id="list_webhooks")
def list_webhooks(ctx: Ctx, organization: str, database: str, page: PageDep) -> dict[str, Any]:
    db = ctx.database(organization, database, "list_webhooks")
    rows, total = repository.page(ctx.session, db.id, page.offset, page.per_page)
    items = [webhook_json(h) for h in rows]
    return envelope(ctx.request, page, items, total, ctx.settings.base_url)


@router.post("", operation_id="create_webhook", status_code=201)
def create_webhook(
    ctx: Ctx, organization: str, database: str, body: WebhookCreate
) -> dict[str, Any]:
    db = ctx.database(organization, database, "create_webhook")
    return webhook_json(service.create(ctx.session, db, body, ctx.settings))


@router.get("/{id}", operation_id="get_webhook")
def get_webhook(ctx: Ctx, organization: str, database: str, id: str) -> dict[str, Any]:
    db = ctx.database(organization, database, "get_webhook")
    return webhook_json(repository.get(ctx.session, db.id, id))


@router.patch("/{id}", operation_id="update_webhook")
def update_webhook(
    ctx: Ctx, organization: str, database: str, id: str, body: WebhookUpdate
) -> dict[str, Any]:
    db = ctx.database(organization, database, "update_webhook")
    hook = repository.get(ctx.session, db.id, id)
    return webhook_json(service.update(ctx.session, db, hook, body, ctx.settings))


@router.delete("/{id}", operation_id="delete_webhook", status_code=204)
def delete_webhook(ctx: Ctx, organization: str, database: str, id: str) -> Response:
    db = ctx.database(organization, database, "delete_webhook")
    service.delete(ctx.session, repository.get(ctx.session, db.id, id))
    return Response(status_code=204)


@router.post("/{id}/test", operation_id="test_webhook", status_code=204)
def test_webhook(ctx: Ctx, organization: str, database: str, id: str) -> Response:
    db = ctx.database(organization, database, "test_webhook")
    hook = repository.get(ctx.session, db.id, id)
    org = lookups.organization(ctx.session, organization)
    service.send_test(ctx.session, _outbox(ctx), org, db, hook)
    return Response(status_code=204)
