"""Which accesses (service tokens) and scopes (OAuth) each operation needs: one table, one check.

The table copies the reference spec's "Authorization" section of each operation. Any one listed
access suffices. Accesses and scopes come in pairs for production and other branches
(``connect_branch`` / ``connect_production_branch``): on a production branch only the
production member of a pair counts; on other branches either does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ORG_ACCESSES = (
    "read_organization", "write_organization", "read_invoices", "read_audit_logs",
    "read_databases", "create_databases", "delete_databases", "read_oauth_applications",
    "read_oauth_tokens", "write_oauth_tokens", "delete_oauth_tokens", "read_service_tokens",
    "write_service_tokens", "delete_service_tokens", "write_teams", "read_metrics_endpoints",
)  # fmt: skip
DATABASE_ACCESSES = (
    "read_database", "delete_database", "write_database", "read_branch", "delete_branch",
    "create_branch", "promote_branches", "demote_branches", "delete_production_branch",
    "connect_branch", "connect_production_branch", "connect_production_read_only_branch",
    "delete_branch_password", "delete_production_branch_password",
    "delete_production_read_only_branch_password", "create_branch_password",
    "create_production_branch_password", "create_production_read_only_branch_password",
    "read_deploy_request", "create_deploy_request", "approve_deploy_request",
    "review_deploy_request", "read_comment", "create_comment", "restore_backup",
    "restore_production_branch_backup", "read_backups", "write_backups", "delete_backups",
    "delete_production_branch_backups", "write_branch_vschema", "write_production_branch_vschema",
)  # fmt: skip

#: accesses that do not suffice on a production branch (their production sibling does)
NON_PRODUCTION_ACCESSES = frozenset({
    "connect_branch", "delete_branch", "delete_branch_password", "create_branch_password",
    "delete_backups", "restore_backup", "write_branch_vschema",
})  # fmt: skip
#: OAuth scopes that do not suffice on a production branch (their production sibling does).
#: Apart from the accesses: the branch scope ``delete_branch`` is named like an access of a
#: pair but has no production sibling, so it is not one of these.
NON_PRODUCTION_SCOPES = frozenset({
    "manage_passwords", "manage_read_only_passwords", "delete_branches", "delete_backups",
    "restore_backups",
})  # fmt: skip
NON_PRODUCTION = NON_PRODUCTION_ACCESSES | NON_PRODUCTION_SCOPES

ANY_DB = DATABASE_ACCESSES[:12] + (
    "delete_branch_password", "delete_production_branch_password",
    "delete_production_read_only_branch_password", "read_deploy_request",
    "create_deploy_request", "approve_deploy_request", "read_comment", "create_comment",
    "restore_backup", "restore_production_branch_backup", "read_backups", "write_backups",
    "delete_backups", "delete_production_branch_backups", "write_branch_vschema",
    "write_production_branch_vschema",
)  # fmt: skip
ANY_BRANCH = ("read_branch", "delete_branch", "create_branch", "connect_production_branch",
              "connect_branch")  # fmt: skip
ANY_BRANCH_RO = ("read_branch", "delete_branch", "create_branch", "connect_production_branch",
                 "connect_production_read_only_branch", "connect_branch")  # fmt: skip
MANAGE_PW = ("manage_passwords", "manage_production_branch_passwords",
             "manage_read_only_passwords", "manage_production_read_only_passwords")  # fmt: skip
PW_SCOPES = {"organization": MANAGE_PW, "database": MANAGE_PW,
             "branch": ("manage_passwords", "manage_read_only_passwords")}  # fmt: skip
ORG_READ_SCOPES = {"user": ("read_organizations",), "organization": ("read_organization",)}


@dataclass(frozen=True)
class Rule:
    accesses: tuple[str, ...] = ()
    scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: False for operations any authenticated caller of the organization may use
    #: (the spec lists no token access for them)
    restricted: bool = True

    def scopes_text(self) -> list[str]:
        return [f"{level}:{scope}" for level, names in self.scopes.items() for scope in names]


RULES: dict[str, Rule] = {
    "list_organizations": Rule(scopes={"user": ("read_organizations",)}, restricted=False),
    "get_organization": Rule(("read_organization",), ORG_READ_SCOPES),
    "update_organization": Rule((), {"organization": ("write_organization",)}, restricted=False),
    "list_regions_for_organization": Rule(("read_organization",), ORG_READ_SCOPES),
    "list_cluster_size_skus": Rule(("read_organization",), ORG_READ_SCOPES),
    "list_databases": Rule(ANY_DB, {"organization": ("read_databases",)}),
    "create_database": Rule(("create_databases",), {"organization": ("create_databases",)}),
    "get_database": Rule(
        ANY_DB, {"organization": ("read_databases",), "database": ("read_database",)}
    ),
    "update_database_settings": Rule(
        ("write_database",), {"organization": ("write_databases",), "database": ("write_database",)}
    ),
    "delete_database": Rule(
        ("delete_database",),
        {"organization": ("delete_databases",), "database": ("delete_database",)},
    ),
    "list_database_regions": Rule(
        ANY_DB, {"organization": ("read_databases",), "database": ("read_database",)}
    ),
    "list_read_only_regions": Rule(
        ANY_DB, {"organization": ("read_branches",), "database": ("read_branches",)}
    ),
    "list_branches": Rule(
        ANY_BRANCH,
        {
            "organization": ("read_branches",),
            "database": ("read_branches",),
            "branch": ("read_branch",),
        },
    ),  # fmt: skip
    "list_passwords": Rule(ANY_BRANCH_RO, PW_SCOPES),
    "get_password": Rule(ANY_BRANCH_RO, PW_SCOPES),
    "create_password": Rule(
        ("connect_production_branch", "connect_production_read_only_branch", "connect_branch"),
        PW_SCOPES,
    ),
    "delete_password": Rule(
        (
            "delete_production_branch_password",
            "delete_production_read_only_branch_password",
            "delete_branch_password",
        ),
        PW_SCOPES,
    ),  # fmt: skip
    "list_roles": Rule(ANY_BRANCH_RO, PW_SCOPES),
    "get_role": Rule(ANY_BRANCH_RO, PW_SCOPES),
    "create_role": Rule(
        (
            "create_production_branch_password",
            "create_production_read_only_branch_password",
            "create_branch_password",
        ),
        PW_SCOPES,
    ),  # fmt: skip
    "delete_role": Rule(
        (
            "delete_production_branch_password",
            "delete_production_read_only_branch_password",
            "delete_branch_password",
        ),
        PW_SCOPES,
    ),  # fmt: skip
}
RULES["get_branch"] = RULES["list_branches"]

BRANCH_READ = {"organization": ("read_branches",), "database": ("read_branches",),
               "branch": ("read_branch",)}  # fmt: skip
PW_WRITE = ("connect_production_branch", "connect_production_read_only_branch", "connect_branch")
ROLE_WRITE = ("create_production_branch_password", "create_production_read_only_branch_password",
              "create_branch_password")  # fmt: skip
PW_DELETE = ("delete_production_branch_password", "delete_production_read_only_branch_password",
             "delete_branch_password")  # fmt: skip
BRANCH_WRITE_SCOPES = {"organization": ("write_branches", "write_databases"),
                       "database": ("write_branches", "write_database"),
                       "branch": ("write_branch",)}  # fmt: skip

RULES.update(
    {
        "create_branch": Rule(
            ("create_branch", "restore_production_branch_backup", "restore_backup"),
            {
                "organization": (
                    "write_branches",
                    "restore_production_branch_backups",
                    "restore_backups",
                ),
                "database": (
                    "write_branches",
                    "restore_production_branch_backups",
                    "restore_backups",
                ),
                "branch": ("restore_backups",),
            },
        ),  # fmt: skip
        "update_branch": Rule(("write_database",), BRANCH_WRITE_SCOPES),
        "delete_branch": Rule(
            ("delete_branch", "delete_production_branch"),
            {
                "organization": ("delete_branches", "delete_production_branches"),
                "database": ("delete_branches", "delete_production_branches"),
                "branch": ("delete_branch",),
            },
        ),  # fmt: skip
        "promote_branch": Rule(
            ("connect_production_branch", "promote_branches"),
            {"organization": ("promote_branches",), "database": ("promote_branches",)},
        ),
        "demote_branch": Rule(
            ("connect_production_branch", "demote_branches"),
            {"organization": ("demote_branches",), "database": ("demote_branches",)},
        ),
        "enable_safe_migrations": Rule(("write_database",), BRANCH_WRITE_SCOPES),
        "disable_safe_migrations": Rule(("write_database",), BRANCH_WRITE_SCOPES),
        "update_safe_migrations": Rule(("write_database",), BRANCH_WRITE_SCOPES),
        "get_branch_schema": Rule(ANY_BRANCH, BRANCH_READ),
        "lint_branch_schema": Rule(ANY_BRANCH, BRANCH_READ),
        "refresh_branch_schema": Rule(ANY_BRANCH, BRANCH_READ),
        "diff_branch": Rule(ANY_BRANCH, BRANCH_READ),
        "update_password": Rule(PW_WRITE, PW_SCOPES),
        "renew_password": Rule(PW_WRITE, PW_SCOPES),
        "update_role": Rule(ROLE_WRITE, PW_SCOPES),
        "renew_role": Rule(ROLE_WRITE, PW_SCOPES),
        "reset_role": Rule(PW_DELETE, PW_SCOPES),
        "reassign_role_objects": Rule(PW_DELETE, PW_SCOPES),
        "get_default_role": Rule(ANY_BRANCH_RO, PW_SCOPES),
        "reset_default_role": Rule(PW_DELETE, PW_SCOPES),
    }
)

#: where Moonbase asks for more than the spec's text, and why (the access tests read this)
BEYOND_SPEC: dict[str, str] = {
    "delete_branch": "the spec lists only delete_branch, which does not suffice on a "
    "production branch; delete_production_branch is what PlanetScale documents for those",
    "enable_safe_migrations": "the spec names no access; turning a safety off or on is a "
    "branch setting, so it takes what update_branch takes",
    "disable_safe_migrations": "as enable_safe_migrations",
    "update_safe_migrations": "as enable_safe_migrations",
    "refresh_branch_schema": "not in the spec (pscale uses it); the same as get_branch_schema",
    "diff_branch": "not in the spec (pscale branch diff uses it); it reads the schema of the "
    "branch and its parent: as get_branch_schema",
}


#: coarse legacy OAuth scopes and the organization-level scopes each stands for
LEGACY_SCOPES: dict[str, tuple[str, ...]] = {
    "read_organization": ("read_organization", "read_organizations"),
    "write_organization": ("write_organization",),
    "read_databases": ("read_databases", "read_branches", "read_database"),
    "write_databases": (
        "create_databases", "write_databases", "delete_databases", "write_branches",
        "delete_branches", "delete_production_branches", *MANAGE_PW,
    ),
    "read_user": ("read_user", "read_organizations"),
}  # fmt: skip


def usable(name: str, production: bool, scope: bool = False) -> bool:
    """On a production branch the non-production member of a pair does not count."""
    return not (
        production and name in (NON_PRODUCTION_SCOPES if scope else NON_PRODUCTION_ACCESSES)
    )


# --- service tokens (feature: service tokens) ---------------------------------------------
# The spec's four operations, plus the access and grants endpoints pscale and planetscale-go
# call (outside the spec, so each is documented in BEYOND_SPEC). Granting also needs the
# granted accesses themselves (resources/service_tokens/service.py).
RULES.update(
    {
        "list_service_tokens": Rule(("read_service_tokens",)),
        "create_service_token": Rule(("write_service_tokens",)),
        "get_service_token": Rule(("read_service_tokens",)),
        "delete_service_token": Rule(("delete_service_tokens",)),
        "list_service_token_accesses": Rule(("read_service_tokens",)),
        "list_service_token_grants": Rule(("read_service_tokens",)),
        "add_service_token_accesses": Rule(("write_service_tokens",)),
        "delete_service_token_accesses": Rule(("delete_service_tokens",)),
    }
)
BEYOND_SPEC.update(
    {
        "list_service_token_accesses": "not in the spec (pscale service-token show-access); "
        "reading a token's accesses is reading the token: as get_service_token",
        "list_service_token_grants": "not in the spec (planetscale-go ListGrants); the same "
        "accesses grouped by resource: as get_service_token",
        "add_service_token_accesses": "not in the spec (pscale service-token add-access); "
        "granting changes a token as creating one does: as create_service_token",
        "delete_service_token_accesses": "not in the spec (pscale service-token "
        "delete-access); removing accesses is the lesser part of deleting the token, which "
        "removes them all: as delete_service_token",
    }
)


# --- members, teams and the current user (feature: organizations, members, teams) -----------
# As the spec lists them. Beyond the accesses, roles apply when a person (an OAuth token
# issued to a user) calls: only admins change roles, remove others or change teams
# (resources/members/service.py, resources/teams/service.py).
ORG_WRITE_SCOPES = {"organization": ("write_organization",)}
ORG_READ_ONLY_SCOPES = {"organization": ("read_organization",)}
RULES.update(
    {
        "get_current_user": Rule((), {"user": ("read_user",)}, restricted=False),
        "list_organization_members": Rule(("read_organization",), ORG_READ_ONLY_SCOPES),
        "get_organization_membership": Rule(("read_organization",), ORG_READ_ONLY_SCOPES),
        "update_organization_membership": Rule(("write_organization",), ORG_WRITE_SCOPES),
        "remove_organization_member": Rule(("write_organization",), ORG_WRITE_SCOPES),
        "list_organization_teams": Rule(("read_organization",), ORG_READ_ONLY_SCOPES),
        "get_organization_team": Rule(("read_organization",), ORG_READ_ONLY_SCOPES),
        "create_organization_team": Rule(("write_teams",), ORG_WRITE_SCOPES),
        "update_organization_team": Rule(("write_teams",), ORG_WRITE_SCOPES),
        "delete_organization_team": Rule(("write_teams",), ORG_WRITE_SCOPES),
        "list_organization_team_members": Rule(("read_organization",), ORG_READ_ONLY_SCOPES),
        "get_organization_team_member": Rule(("read_organization",), ORG_READ_ONLY_SCOPES),
        "add_organization_team_member": Rule(("write_teams",), ORG_WRITE_SCOPES),
        "remove_organization_team_member": Rule(("write_teams",), ORG_WRITE_SCOPES),
    }
)


# --- webhooks (feature: webhooks per database, resources/webhooks) -------------------------
# As the spec lists them: reading takes read_database, changing or testing write_database.
WEBHOOK_READ = Rule(("read_database",), {"organization": ("read_databases",),
                                         "database": ("read_database",)})  # fmt: skip
WEBHOOK_WRITE = Rule(("write_database",), {"organization": ("write_databases",),
                                           "database": ("write_database",)})  # fmt: skip
RULES.update(
    {
        "list_webhooks": WEBHOOK_READ,
        "get_webhook": WEBHOOK_READ,
        "create_webhook": WEBHOOK_WRITE,
        "update_webhook": WEBHOOK_WRITE,
        "delete_webhook": WEBHOOK_WRITE,
        "test_webhook": WEBHOOK_WRITE,
    }
)


# --- audit log (feature: access control, resources/audit_logs) ------------------------------
# As the spec lists it: the read_audit_logs access; the spec names no OAuth scope.
RULES.update({"list_audit_logs": Rule(("read_audit_logs",))})


# --- OAuth applications and tokens (feature: OAuth, resources/oauth) -------------------------
# As the spec lists them; the spec names no OAuth scope for these operations.
RULES.update(
    {
        "list_oauth_applications": Rule(("read_oauth_applications",)),
        "get_oauth_application": Rule(("read_oauth_applications",)),
        "list_oauth_tokens": Rule(("read_oauth_tokens",)),
        "get_oauth_token": Rule(("read_oauth_tokens",)),
        "delete_oauth_token": Rule(("delete_oauth_tokens",)),
        "create_oauth_token": Rule(("write_oauth_tokens",)),
    }
)
