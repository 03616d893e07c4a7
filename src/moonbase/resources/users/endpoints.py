"""``GET /v1/user``: the user an OAuth token was issued to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from moonbase.api.auth import authorize
from moonbase.api.deps import Ctx
from moonbase.resources.users import service
from moonbase.resources.users.schemas import user_json

router = APIRouter()


@router.get("/user", operation_id="get_current_user")
def get_current_user(ctx: Ctx) -> dict[str, Any]:
    authorize(ctx.principal, "get_current_user", ctx.principal.organization_id)
    user, org = service.current_user(ctx.session, ctx.principal)
    return user_json(user, org)
