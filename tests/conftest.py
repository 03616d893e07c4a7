"""Fixtures shared by every test: throwaway installations of Moonbase."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from moonbase.app import create_app
from moonbase.provisioners.fake import FakeProvisioner
from moonbase.settings import Settings

from helpers import ADMIN, ADMIN_ID, ADMIN_SECRET, make_dir


@pytest.fixture
def home() -> Iterator[Path]:
    path = make_dir("moonbase-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def fake_settings(home: Path, **changes: object) -> Settings:
    base = Settings(
        home=home,
        organization="acme",
        admin_token_id=ADMIN_ID,
        admin_token=ADMIN_SECRET,
        reconcile_interval=0.05,
        health_interval=0.2,
    )
    return base.with_(**changes) if changes else base


@pytest.fixture
def fake() -> FakeProvisioner:
    return FakeProvisioner()


@pytest.fixture
def api(home: Path, fake: FakeProvisioner) -> Iterator[TestClient]:
    """The API with a provisioner that runs no servers (contract and validation tests)."""
    app = create_app(fake_settings(home), lambda _s: fake)
    with TestClient(app, base_url="http://testserver") as client:
        client.headers.update(ADMIN)
        yield client
