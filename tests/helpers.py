"""Helpers shared by the test folders (imported as ``helpers``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

ADMIN_ID = "admintoken01"
ADMIN_SECRET = "pscale_tkn_test_admin_secret"
ADMIN = {"Authorization": f"{ADMIN_ID}:{ADMIN_SECRET}"}


def make_dir(prefix: str) -> Path:
    """A folder the unprivileged server user can reach (pytest's tmp folders are 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path
