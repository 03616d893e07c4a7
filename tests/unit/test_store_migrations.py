"""The store's Alembic revisions: a store made by an older revision is upgraded in place,
keeping its rows, and ends with exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from moonbase.models.base import Base
from moonbase.store.db import MIGRATIONS, Store


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def test_a_store_at_the_first_revision_is_upgraded_with_its_rows(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = _config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            text(
                "INSERT INTO organizations (id, name, plan, created_at, updated_at) "
                "VALUES ('org000000001', 'acme', 'scaler_pro', '2026-01-01', '2026-01-01')"
            )
        )
    assert "ix_credentials_username" not in {
        i["name"] for i in inspect(store.engine).get_indexes("credentials")
    }

    store.migrate()  # what every start does
    store.migrate()  # and again: nothing left to do

    indexes = {i["name"] for i in inspect(store.engine).get_indexes("credentials")}
    assert "ix_credentials_username" in indexes
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM organizations")).scalars().all() == ["acme"]
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == ScriptDirectory.from_config(cfg).get_current_head()
        # the newest revision builds exactly what the models say
        assert compare_metadata(context, Base.metadata) == []
    store.dispose()
