"""The committed OpenAPI facts: freshness, a few known facts, and the response validator."""

from __future__ import annotations

import difflib
import importlib.util
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from moonbase.contract.facts import find_operation, load_facts, operation

from contract import assert_matches_spec, json_schema, openapi_to_json_schema, response_schema

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "extract_openapi_facts.py"
SPEC = REPO_ROOT.parent / "shared" / "reference" / "planetscale-openapi.yaml"
FACTS = REPO_ROOT / "src" / "moonbase" / "contract" / "openapi_facts.json"

OPERATION_COUNT = 193


def _load_script():
    spec = importlib.util.spec_from_file_location("extract_openapi_facts", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- (a) freshness


def test_facts_file_is_up_to_date_with_the_spec():
    """The committed JSON is exactly what the script makes of the spec.

    The spec is an input that lives outside the repository (../shared). Where
    it is absent the regeneration cannot be compared, so this checks what can
    be checked without it: the committed file exists and is complete.
    """
    assert FACTS.is_file(), f"{FACTS} is missing; run scripts/extract_openapi_facts.py"
    committed = FACTS.read_text(encoding="utf-8")
    facts = json.loads(committed)
    assert len(facts["operations"]) == OPERATION_COUNT
    assert facts["operation_count"] == OPERATION_COUNT

    if SPEC.is_file():
        script = _load_script()
        regenerated = script.render(script.build_facts(SPEC))
        if committed != regenerated:
            diff = list(
                difflib.unified_diff(
                    committed.splitlines(),
                    regenerated.splitlines(),
                    "committed",
                    "regenerated",
                    lineterm="",
                    n=1,
                )
            )
            pytest.fail(
                f"{FACTS.relative_to(REPO_ROOT)} is stale: run "
                "python scripts/extract_openapi_facts.py and commit the result\n"
                + "\n".join(diff[:60])
                + ("\n..." if len(diff) > 60 else "")
            )


def test_facts_carry_no_prose():
    text = FACTS.read_text(encoding="utf-8")
    assert "PlanetScale, Inc" not in text
    assert "x-readme" not in text

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties":  # property *names* may be anything
                    for name, sub in value.items():
                        walk(sub, f"{where}.{name}")
                    continue
                assert key not in ("description", "summary", "title", "example", "examples"), where
                assert not key.startswith("x-"), where
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    walk(load_facts(), "$")


# --------------------------------------------------------------------------- (b) known facts


def test_top_level_facts():
    facts = load_facts()
    assert facts["base_path"] == "/v1"
    assert "organization:create_databases" in facts["oauth_scope_names"]
    assert "branch:read_branch" in facts["oauth_scope_names"]


def test_create_database_authorization():
    op = operation("create_database")
    assert (op["method"], op["path"]) == ("POST", "/organizations/{organization}/databases")
    assert "create_databases" in op["token_accesses"]
    assert "create_databases" in op["oauth_scopes"]["organization"]
    assert set(op["oauth_scopes"]) == {"organization", "database", "branch", "user"}


def test_list_branches_token_accesses():
    assert sorted(operation("list_branches")["token_accesses"]) == sorted(
        [
            "read_branch",
            "delete_branch",
            "create_branch",
            "connect_production_branch",
            "connect_branch",
        ]
    )


def test_success_statuses():
    assert "200" in operation("create_role")["responses"]
    assert "201" not in operation("create_role")["responses"]
    assert "201" in operation("create_password")["responses"]
    assert response_schema("create_password", 201)["type"] == "object"


def test_list_cluster_size_skus_returns_an_array():
    assert response_schema("list_cluster_size_skus", 200)["type"] == "array"


def test_yaml_1_1_booleans_stay_strings():
    """`enum: [off, warn, on]` must not be read as [False, "warn", True]."""
    mode = response_schema("get_traffic_budget", 200)["properties"]["mode"]
    assert mode["enum"] == ["enforce", "warn", "off"]


def test_find_operation():
    assert find_operation("post", "/v1/organizations/acme/databases") == (
        "create_database",
        {"organization": "acme"},
    )
    assert find_operation("GET", "/organizations/acme/databases/db/branches/main/") == (
        "get_branch",
        {"organization": "acme", "database": "db", "branch": "main"},
    )
    # a literal segment wins over a template
    assert find_operation("GET", "/v1/organizations/o/databases/d/branches/b/roles/default")[0] == (
        "get_default_role"
    )
    assert find_operation("GET", "/v1/organizations/o/databases/d/branches/b/roles/r1") == (
        "get_role",
        {"organization": "o", "database": "d", "branch": "b", "id": "r1"},
    )
    assert find_operation("PUT", "/v1/organizations/acme") is None
    assert find_operation("GET", "/v1/nowhere") is None


# --------------------------------------------------------------------------- (c) validator


def _region():
    return {
        "id": "reg_1",
        "provider": "AWS",
        "enabled": True,
        "public_ip_addresses": ["10.0.0.1"],
        "display_name": "Local",
        "location": "Earth",
        "slug": "local",
        "current_default": True,
        "mysql_supported": True,
        "postgresql_supported": True,
    }


def _database():
    return {
        "id": "db_1",
        "url": "http://localhost/v1/organizations/acme/databases/shop",
        "branches_url": "http://localhost/v1/organizations/acme/databases/shop/branches",
        "branches_count": 1,
        "open_schema_recommendations_count": 0,
        "development_branches_count": 0,
        "production_branches_count": 1,
        "multiple_admins_required_for_deletion": False,
        "ready": True,
        "at_backup_restore_branches_limit": False,
        "at_development_branch_usage_limit": False,
        "region": _region(),
        "html_url": "http://localhost/acme/shop",
        "name": "shop",
        "state": "ready",
        "sharded": False,
        "default_branch_shard_count": 1,
        "default_branch_read_only_regions_count": 0,
        "default_branch_table_count": 0,
        "default_branch": "main",
        "require_approval_for_deploy": False,
        "deletion_protected": False,
        "resizing": False,
        "resize_queued": False,
        "config_changing": False,
        "config_change_queued": False,
        "allow_data_branching": False,
        "foreign_keys_enabled": True,
        "restrict_branch_region": False,
        "insights_raw_queries": False,
        "plan": "scaler_pro",
        "insights_enabled": False,
        "production_branch_web_console": False,
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "schema_last_updated_at": None,  # nullable
        "kind": "postgresql",
        "issues_count": None,  # optional and nullable
        "moonbase_extra": "extra properties are allowed",
    }


def _page(items):
    return {
        "type": "list",
        "current_page": 1,
        "per_page": 25,
        "next_page": None,
        "next_page_url": None,
        "prev_page": None,
        "prev_page_url": None,
        "total_count": len(items),
        "total_pages": 1,
        "data": items,
    }


def test_every_response_schema_converts_to_valid_json_schema():
    for op_id, op in load_facts()["operations"].items():
        for status, schema in op["responses"].items():
            converted = json_schema(op_id, status)  # check_schema() runs inside
            assert (converted is None) == (schema is None), (op_id, status)


def test_validator_accepts_well_formed_database():
    assert_matches_spec("get_database", 200, _database())
    assert_matches_spec("create_database", 201, _database())
    assert_matches_spec("list_databases", 200, _page([_database(), _database()]))


def test_validator_rejects_database_without_name():
    body = _database()
    del body["name"]
    with pytest.raises(AssertionError, match=r"\$: 'name' is a required property"):
        assert_matches_spec("get_database", 200, body)


def test_validator_rejects_unknown_state():
    body = _database()
    body["state"] = "bogus"
    with pytest.raises(AssertionError, match=r"\$\.state: 'bogus' is not one of"):
        assert_matches_spec("get_database", 200, body)


def test_validator_reports_every_mismatch_with_its_path():
    body = _page([_database(), _database()])
    del body["total_count"]
    body["data"][1]["name"] = 42
    body["data"][1]["region"]["enabled"] = "yes"
    body["data"][0]["schema_last_updated_at"] = 7
    with pytest.raises(AssertionError) as info:
        assert_matches_spec("list_databases", 200, body)
    message = str(info.value)
    assert "4 problem(s)" in message
    assert "$: 'total_count' is a required property" in message
    assert "$.data[1].name: expected string, got integer 42" in message
    assert "$.data[1].region.enabled: expected boolean, got string 'yes'" in message
    assert "$.data[0].schema_last_updated_at: expected ['string', 'null']" in message


def test_validator_status_handling():
    with pytest.raises(AssertionError, match="does not declare status 201"):
        assert_matches_spec("get_database", 201, _database())
    assert_matches_spec("delete_database", 204, None)
    with pytest.raises(AssertionError, match="204 must have no body"):
        assert_matches_spec("delete_database", 204, {"id": "x"})
    assert response_schema("get_database", 404) is None


def test_schema_conversion_nullable_enum_and_closed_objects():
    """No response in the spec says additionalProperties: false; prove the conversion anyway."""
    assert "additionalProperties" not in json_schema("get_database", 200)
    closed = openapi_to_json_schema(
        {
            "type": "object",
            "properties": {"a": {"type": "string", "nullable": True, "enum": ["x"]}},
            "additionalProperties": False,
        }
    )
    assert closed == {
        "type": "object",
        "properties": {"a": {"type": ["string", "null"], "enum": ["x", None]}},
        "additionalProperties": False,
    }
    validator = Draft202012Validator(closed)
    assert validator.is_valid({"a": None})
    assert validator.is_valid({"a": "x"})
    assert not validator.is_valid({"a": "y"})
    assert not validator.is_valid({"a": "x", "b": 1})
