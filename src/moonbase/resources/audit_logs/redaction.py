"""What of a request may go into an audit entry's metadata: its fields, never a secret.

Keys that name secrets are dropped wherever they appear (nested objects and lists included);
a URL's password is masked; long strings are cut. The rule is by name because the audit
hook sees every operation, including ones added later: a field called ``*password*``,
``*secret*``, ``*token`` ... is never recorded, whatever the operation.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: exact names (lower case) that hold secrets in PlanetScale's and OAuth's request bodies
SECRET_KEYS = frozenset({
    "password", "plain_text", "token", "secret", "client_secret", "refresh_token",
    "access_token", "id_token", "code", "code_verifier", "authorization", "api_key",
    "private_key", "key", "signature", "otp", "passphrase", "credentials",
})  # fmt: skip
#: parts of names that hold secrets (``admin_password``, ``webhook_secret``)
SECRET_PARTS = ("password", "secret", "passphrase", "private_key", "credential")
MAX_STRING = 1024
MAX_DEPTH = 8

_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@/\s]+@")


def is_secret(key: str) -> bool:
    name = key.lower()
    return name in SECRET_KEYS or name.endswith("token") or any(p in name for p in SECRET_PARTS)


def _clean(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {
            str(k): _clean(v, depth + 1) for k, v in value.items() if not is_secret(str(k))
        }
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, str):
        masked = _URL_PASSWORD.sub(r"\1[FILTERED]@", value)
        return masked if len(masked) <= MAX_STRING else masked[:MAX_STRING] + "…"
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def request_metadata(body: bytes) -> dict[str, Any]:
    """The JSON request body without its secrets; ``{}`` for no body or one that is not JSON
    (a request with such a body does not get far enough to be audited anyway)."""
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    cleaned = _clean(parsed, 0)
    return cleaned if isinstance(cleaned, dict) else {"body": cleaned}
