"""Rate limits: per token, per address without one; 429 rate_limited with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from moonbase.api.ratelimit import RateLimiter, credential_key
from moonbase.settings import Settings, from_env

from api_support import ADMIN, ADMIN_ID, assert_error, installation, org_id, org_path, service_token

LIMIT = 3


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited() -> Iterator[tuple[TestClient, FastAPI, Clock]]:
    """An installation allowing 3 requests a minute, on a clock the test moves."""
    with installation(rate_limit=LIMIT) as (client, _fake):
        clock = Clock()
        app: FastAPI = client.app  # type: ignore[assignment]
        app.state.rate_limiter.clock = clock
        yield client, app, clock


def _from(app: FastAPI, address: str) -> TestClient:
    """Another caller of the running app (no second lifespan: not used as a context)."""
    return TestClient(app, base_url="http://testserver", client=(address, 4000))


def _too_many(response: object) -> int:
    body = assert_error(response, 429, "rate_limited")
    assert "per minute" in body["message"]
    retry = response.headers["Retry-After"]  # type: ignore[attr-defined]
    assert retry.isdigit() and 1 <= int(retry) <= 60, retry
    return int(retry)


def test_a_token_over_the_limit_waits(limited: tuple[TestClient, FastAPI, Clock]) -> None:
    api, _app, clock = limited
    for _ in range(LIMIT):
        assert api.get(org_path()).status_code == 200
        clock.now += 10
    assert _too_many(api.get(org_path())) == 30, "the oldest request leaves the window in 30 s"
    assert _too_many(api.patch(org_path(), json={"billing_email": "x@example.com"})) == 30
    clock.now += 29.5
    assert _too_many(api.get(org_path())) == 1, "rounded up"
    clock.now += 0.5
    assert api.get(org_path()).status_code == 200, "the window slides"
    assert _too_many(api.get(org_path())) == 10


def test_tokens_have_their_own_allowance(limited: tuple[TestClient, FastAPI, Clock]) -> None:
    api, app, _clock = limited
    other = service_token(app, [("read_organization", "Organization", org_id(app))])
    for _ in range(LIMIT):
        assert api.get(org_path()).status_code == 200
    _too_many(api.get(org_path()))
    for _ in range(LIMIT):
        assert api.get(org_path(), headers=other).status_code == 200
    _too_many(api.get(org_path(), headers=other))


def test_anonymous_requests_count_per_address(limited: tuple[TestClient, FastAPI, Clock]) -> None:
    """/healthz and the public regions are limited by address; tokens are not affected."""
    api, app, _clock = limited
    anonymous = {"Authorization": ""}
    assert api.get("/healthz", headers=anonymous).status_code == 200
    assert api.get("/v1/regions", headers=anonymous).status_code == 200
    assert_error(api.get(org_path(), headers=anonymous), 401, "unauthorized")
    _too_many(api.get("/healthz", headers=anonymous))
    _too_many(api.get("/v1/regions", headers=anonymous))
    assert api.get(org_path()).status_code == 200, "the admin token has its own allowance"
    assert _from(app, "192.0.2.7").get("/healthz").status_code == 200, "another address"


def test_refused_credentials_count_per_address(limited: tuple[TestClient, FastAPI, Clock]) -> None:
    """Every guess is a new credential, so guesses are limited by address; a wrong secret for
    a known token id does not use up that token's allowance."""
    api, app, clock = limited
    for n in range(LIMIT):
        wrong = {"Authorization": f"{ADMIN_ID}:guess-{n}"}
        assert_error(api.get(org_path(), headers=wrong), 401, "unauthorized")
    _too_many(api.get(org_path(), headers={"Authorization": f"{ADMIN_ID}:guess-x"}))
    _too_many(api.get(org_path()))  # this address is refused for now, even with a good token
    elsewhere = _from(app, "192.0.2.8")
    for _ in range(LIMIT):  # the admin token's allowance is intact
        assert elsewhere.get(org_path(), headers=ADMIN).status_code == 200
    clock.now += 61
    assert api.get(org_path(), headers={"Authorization": "nobody:x"}).status_code == 401


def test_zero_turns_limits_off() -> None:
    with installation(rate_limit=0) as (api, _fake):
        for _ in range(30):
            assert api.get("/healthz").status_code == 200


def test_default_and_environment() -> None:
    assert Settings().rate_limit == 600
    assert from_env({"MOONBASE_RATE_LIMIT": "60"}).rate_limit == 60


def test_sliding_window() -> None:
    clock = Clock()
    limiter = RateLimiter(2, window=60, clock=clock)
    assert limiter.hit("a") is None
    clock.now += 59
    assert limiter.hit("a") is None
    assert limiter.hit("a") == pytest.approx(1.0)
    assert limiter.hit("b") is None, "keys are separate"
    clock.now += 1
    assert limiter.hit("a") is None, "the first hit left the window"
    assert limiter.blocked("a") == pytest.approx(59.0)
    assert limiter.hit("a", force=True) is None
    clock.now += 3600
    limiter.hit("c")
    assert set(limiter._hits) == {"c"}, "idle keys are dropped"


def test_credential_keys() -> None:
    assert credential_key(None) is None and credential_key("  ") is None
    assert credential_key("id") is None and credential_key("id:") is None
    assert credential_key("Bearer ") is None
    assert credential_key("id:secret") == credential_key(" id : secret ")
    assert credential_key("id:secret") != credential_key("id:other")
    assert credential_key("Bearer abc") == credential_key("bearer  abc")
    for key in (credential_key("id:secret"), credential_key("Bearer abc")):
        assert key is not None and "secret" not in key and "abc" not in key
