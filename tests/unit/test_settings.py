"""Settings come from flags, then MOONBASE_* variables, then defaults; nothing else reads the
environment."""

from __future__ import annotations

import json
import os
from pathlib import Path

from moonbase.settings import Settings, client_from_env, from_env, parse_regions


def test_environment_then_flags() -> None:
    env = {
        "MOONBASE_HOME": "/srv/mb",
        "MOONBASE_HOST": "0.0.0.0",
        "MOONBASE_PORT": "9000",
        "MOONBASE_ORG": "acme",
        "MOONBASE_REGIONS": "eu-west=Dublin,us-east",
        "MOONBASE_ADMIN_TOKEN_ID": "abc",
        "MOONBASE_ADMIN_TOKEN": "secret",
        "MOONBASE_DEVELOPMENT_BRANCH_LIMIT": "7",
    }
    settings = from_env(env, port=9100)
    assert settings.home == Path("/srv/mb")
    assert settings.port == 9100, "a flag beats the environment"
    assert settings.organization == "acme"
    assert [r.slug for r in settings.regions] == ["eu-west", "us-east"]
    assert settings.regions[0].display_name == "Dublin"
    assert (settings.admin_token_id, settings.admin_token) == ("abc", "secret")
    assert settings.development_branch_limit == 7
    assert settings.base_url == "http://127.0.0.1:9100", "0.0.0.0 is not an address to call"
    assert settings.store == "sqlite:////srv/mb/moonbase.db"


def test_admin_token_needs_both_halves() -> None:
    settings = from_env({"MOONBASE_ADMIN_TOKEN_ID": "abc"})
    assert settings.admin_token_id is None and settings.admin_token is None


def test_defaults_and_repr_hide_secrets() -> None:
    settings = Settings(admin_token_id="abc", admin_token="very-secret")
    assert "very-secret" not in repr(settings)
    assert settings.port == 8484 and settings.development_branch_limit == 100
    assert parse_regions("") == Settings().regions


def test_client_settings_precedence(tmp_path: Path) -> None:
    (tmp_path / "cli.json").write_text(
        json.dumps({"url": "http://saved:1", "organization": "o", "token_id": "i", "token": "t"})
    )
    env = {"MOONBASE_HOME": str(tmp_path)}
    saved = client_from_env(env)
    assert saved is not None and saved.url == "http://saved:1"
    env.update(PLANETSCALE_SERVICE_TOKEN_ID="pid", PLANETSCALE_SERVICE_TOKEN="ptok")
    from_planetscale_names = client_from_env(env)
    assert from_planetscale_names is not None
    assert (from_planetscale_names.token_id, from_planetscale_names.token) == ("pid", "ptok")
    flagged = client_from_env(env, url="http://flag:2/", organization="x")
    assert flagged is not None and (flagged.url, flagged.organization) == ("http://flag:2", "x")
    assert client_from_env({"MOONBASE_HOME": str(tmp_path / "none")}) is None
    assert "ptok" not in repr(from_planetscale_names)
    assert os.environ.get("MOONBASE_HOME") != str(tmp_path)
