"""A thin client of Moonbase's REST API for the CLI (the same API every PlanetScale client uses)."""

from __future__ import annotations

from typing import Any

import httpx

from moonbase.settings import ClientSettings


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code


class Client:
    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self.http = httpx.Client(
            base_url=f"{settings.url}/v1",
            headers={"Authorization": f"{settings.token_id}:{settings.token}"},
            timeout=30.0,
        )

    @property
    def org(self) -> str:
        return self.settings.organization

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, "unreachable", f"cannot reach {self.settings.url}: {exc}") from exc
        if response.status_code == 204:
            return None
        body = response.json() if response.content else None
        if response.status_code >= 400:
            body = body if isinstance(body, dict) else {}
            raise ApiError(
                response.status_code, body.get("code", "error"), body.get("message", response.text)
            )
        return body

    def list_all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page: int | None = 1
        while page:
            body = self.request("GET", path, params={**params, "page": page, "per_page": 100})
            items.extend(body["data"])
            page = body.get("next_page")
        return items

    def db_path(self, database: str = "") -> str:
        path = f"/organizations/{self.org}/databases"
        return f"{path}/{database}" if database else path

    def branch_path(self, database: str, branch: str) -> str:
        return f"{self.db_path(database)}/branches/{branch}"
