"""Regenerate the initial Alembic revision from the models (only while nothing is released).

Once a store exists in the wild, add new revisions with `alembic revision --autogenerate`
instead; this script refuses to overwrite a revision other than 0001.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

VERSIONS = Path(__file__).resolve().parents[1] / "src/moonbase/store/migrations/versions"


def main() -> None:
    revisions = sorted(p.name for p in VERSIONS.glob("0*.py"))
    if any(not name.startswith("0001") for name in revisions):
        raise SystemExit("more than the initial revision exists: write a new revision instead")
    for old in VERSIONS.glob("0001*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/empty.db")
        cfg = Config()
        cfg.set_main_option("script_location", str(VERSIONS.parent))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.revision(cfg, message="initial store", autogenerate=True, rev_id="0001")


if __name__ == "__main__":
    main()
