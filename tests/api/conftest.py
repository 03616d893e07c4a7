"""Fixtures of the API tests: the ``api`` client (tests/conftest.py) and its app."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient


@pytest.fixture
def app(api: TestClient) -> FastAPI:
    return api.app  # type: ignore[return-value]
