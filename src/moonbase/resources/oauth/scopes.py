"""The OAuth scope vocabulary: which names exist, what they mean, who may grant them.

Scope names come from the spec (``oauth_scope_names`` in the facts): granular ones are
``level:name`` (``organization:read_databases``), legacy coarse ones have no level
(``read_databases``). What each grants is decided by the rules table (api/access.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from moonbase.contract.facts import load_facts

LEVELS = ("organization", "database", "branch", "user")
#: legacy names that are about the user (the others are about the organization)
LEGACY_USER = frozenset({"read_user", "write_user", "email", "openid", "profile"})
#: legacy names that reach databases
_LEGACY_DB = frozenset({"read_databases", "write_databases"})

#: Scopes only an organization's administrators may grant (Moonbase's choice, after
#: PlanetScale's rule that members cannot grant ``create_databases``): creating and deleting
#: databases, changing the organization, its members and reading its invoices.
ADMIN_SCOPES = frozenset({
    "organization:create_databases", "organization:delete_databases",
    "organization:delete_organization", "organization:write_organization",
    "organization:write_members", "organization:delete_members", "organization:read_invoices",
    "database:write_members", "database:delete_members", "write_organization", "write_databases",
})  # fmt: skip

_LEVEL_TEXT = {
    "organization": "in the organization",
    "database": "in the databases you choose",
    "branch": "on branches of the databases you choose",
    "user": "of your user account",
}


@cache
def known() -> tuple[str, ...]:
    names: list[str] = load_facts()["oauth_scope_names"]
    return tuple(names)


def parse(text: str | Iterable[str]) -> list[str]:
    """Scopes from a space- (or comma-) separated string or a list, without repeats."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    return list(dict.fromkeys(item.strip() for item in items if item.strip()))


def unknown(scopes: Iterable[str]) -> list[str]:
    names = set(known())
    return [s for s in scopes if s not in names]


def split(scope: str) -> tuple[str, str]:
    """(level, name); legacy names belong to the user or to the organization."""
    level, sep, name = scope.partition(":")
    if sep:
        return level, name
    return ("user" if scope in LEGACY_USER else "organization"), scope


def needs_database(scopes: Iterable[str]) -> bool:
    """Whether some scope is about databases or branches (so narrowing to one makes sense)."""
    return any(split(s)[0] in ("database", "branch") or s in _LEGACY_DB for s in scopes)


def describe(scope: str) -> str:
    level, name = split(scope)
    text = name.replace("_", " ").capitalize()
    if ":" not in scope:
        return f"{text} (all levels)"
    return f"{text} {_LEVEL_TEXT.get(level, '')}".strip()


def admin_only(scopes: Iterable[str]) -> list[str]:
    return [s for s in scopes if s in ADMIN_SCOPES]


def by_resource(
    selected: Iterable[str], everything: bool = False
) -> dict[str, list[dict[str, object]]]:
    """``scopes_by_resource`` (the selected scopes) or ``all_scopes_by_resource`` (every
    known scope, with ``selected``) of an application."""
    selected = list(selected)
    chosen = set(selected)
    out: dict[str, list[dict[str, object]]] = {level: [] for level in LEVELS}
    for scope in known() if everything else list(dict.fromkeys(selected)):
        level, name = split(scope)
        if ":" not in scope:
            level = "legacy"
        entry: dict[str, object] = {
            "scope": name,
            "description": describe(scope),
            "admin": scope in ADMIN_SCOPES,
        }
        if everything:
            entry["selected"] = scope in chosen
        out.setdefault(level, []).append(entry)
    return out
