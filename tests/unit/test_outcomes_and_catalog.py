"""Pure pieces: retry backoff, the cluster-size mapping, verifiers, lint and rendering."""

from __future__ import annotations

import random

from moonbase import catalog, verifiers
from moonbase.reconciler.outcomes import MAX_DELAY, backoff
from moonbase.schema.lint import lint
from moonbase.schema.render import highlight


def test_backoff_doubles_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    delays = [backoff(n, rng).total_seconds() for n in range(1, 10)]
    assert 0.8 <= delays[0] <= 1.2
    assert 1.6 <= delays[1] <= 2.4
    assert all(d <= MAX_DELAY * 1.2 for d in delays)
    assert delays[-1] >= MAX_DELAY * 0.8


def test_sizes_map_to_limits_in_proportion() -> None:
    ps10 = catalog.size("PS_10", "mysql")
    ps80 = catalog.size("ps-80", "postgresql")
    assert ps10 is not None and ps80 is not None
    assert (ps10.memory_mb, ps10.max_connections) == (16, 25)
    assert (ps80.memory_mb, ps80.max_connections) == (128, 200)
    assert catalog.size("PS_5", "mysql") is None, "PS_5 is PostgreSQL only"
    assert catalog.production_size("PS_DEV", "mysql") is None, "PS_DEV is for branches"
    names = [s.name for s in catalog.sizes_for("postgresql")]
    assert names == sorted(names, key=lambda n: catalog.size(n, "postgresql").sort_order)  # type: ignore[union-attr]


def test_verifiers_have_the_servers_formats() -> None:
    scram = verifiers.scram_sha256("pw", salt=b"0123456789abcdef")
    assert scram.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
    assert scram != verifiers.scram_sha256("pw"), "a fresh salt each time"
    # MySQL's PASSWORD('password')
    assert verifiers.mysql_native("password") == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"


def test_lint_finds_real_problems_only() -> None:
    clean = {
        "name": "ok",
        "strict_unique_keys": [["id"]],
        "unique_keys": [["id"]],
        "columns": [["id", "int", False]],
        "charset": "utf8mb4",
        "engine": "InnoDB",
    }
    loose = {
        "name": "loose",
        "strict_unique_keys": [],
        "unique_keys": [["note"]],
        "columns": [["note", "text", True]],
        "charset": "latin2",
        "engine": "MyISAM",
    }
    codes = sorted(e.code for e in lint([clean, loose], "mysql"))
    assert codes == ["BLOB_IN_UNIQUE_KEY", "INVALID_CHARSET", "NO_UNIQUE_KEY", "UNSUPPORTED_ENGINE"]
    assert [e.code for e in lint([clean], "mysql")] == []
    assert [e.code for e in lint([{**loose, "namespace": "s"}], "postgresql")] == ["NO_UNIQUE_KEY"]
    assert lint([loose], "mysql")[0].to_json()["docs_url"].startswith("https://")


def test_schema_html_escapes() -> None:
    html = highlight("CREATE TABLE t (a int CHECK (a < 5))")
    assert (
        "&lt; 5" in html
        and "<span" in html
        and "<"
        not in html.replace("<span", "")
        .replace("</span", "")
        .replace("<pre", "")
        .replace("</pre", "")
    )
