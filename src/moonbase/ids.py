"""Public ids, secrets and timestamps in PlanetScale's formats."""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import UTC, datetime

_ALPHABET = string.ascii_lowercase + string.digits


def new_id() -> str:
    """12-character lowercase alphanumeric id, like PlanetScale's public ids."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))


def new_secret(prefix: str, length: int = 43) -> str:
    return prefix + "".join(
        secrets.choice(string.ascii_letters + string.digits) for _ in range(length)
    )


def token_hash(token: str) -> str:
    """Tokens are long random strings: a plain SHA-256 is enough and lets us look them up."""
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def iso(ts: datetime | None) -> str | None:
    """UTC ISO-8601 with milliseconds and Z, e.g. 2023-10-25T16:54:12.879Z."""
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
