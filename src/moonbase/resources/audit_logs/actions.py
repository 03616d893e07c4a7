"""Audit actions and target types from operation ids.

PlanetScale names its audit actions ``<noun>.<past tense verb>`` (``database.created``,
``service_token.granted_access``). Where it has a name for what an operation does, that name
is used; every other operation gets one derived the same way from its operation id
(``promote_branch`` -> ``branch.promoted``), so a new endpoint is audited without an entry
here.
"""

from __future__ import annotations

from dataclasses import dataclass

#: PlanetScale's names, and names clearer than the derivation would give
ACTIONS: dict[str, str] = {
    "update_database_settings": "database.updated",
    "enable_safe_migrations": "branch.enabled_safe_migrations",
    "disable_safe_migrations": "branch.disabled_safe_migrations",
    "update_safe_migrations": "branch.updated_safe_migrations",
    "refresh_branch_schema": "branch.refreshed_schema",
    "reassign_role_objects": "role.reassigned_objects",
    "reset_default_role": "role.reset_default",
    "update_organization_membership": "organization.updated_role",
    "remove_organization_member": "organization.removed_member",
    "create_organization_team": "team.created",
    "update_organization_team": "team.updated",
    "delete_organization_team": "team.deleted",
    "add_organization_team_member": "team.added_member",
    "remove_organization_team_member": "team.removed_member",
    "workflow_cancel": "workflow.canceled",
}

_IRREGULAR = {"reset": "reset", "queue": "queued", "cancel": "canceled", "set": "set"}
_VERBS = frozenset({
    "accept", "add", "apply", "approve", "cancel", "close", "complete", "create", "delete",
    "demote", "deploy", "disable", "dismiss", "enable", "force", "grant", "invite", "promote",
    "queue", "reassign", "refresh", "regenerate", "remove", "renew", "reset", "restore",
    "retry", "review", "revoke", "rotate", "set", "skip", "test", "update", "verify",
})  # fmt: skip


def past(verb: str) -> str:
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in ("a", "e", "i", "o", "u"):
        return verb[:-1] + "ied"
    return verb + "ed"


def _service_token_access(operation_id: str, method: str) -> str | None:
    """Granting accesses to a service token (no endpoint in the spec; pscale has one): any
    operation on a service token's accesses."""
    if "service_token" not in operation_id or "access" not in operation_id:
        return None
    revoking = method == "DELETE" or operation_id.startswith(("delete_", "remove_", "revoke_"))
    return "service_token.revoked_access" if revoking else "service_token.granted_access"


def action_for(operation_id: str, method: str) -> str:
    """``create_database`` -> ``database.created``; ``promote_branch`` -> ``branch.promoted``."""
    if operation_id in ACTIONS:
        return ACTIONS[operation_id]
    granted = _service_token_access(operation_id, method)
    if granted:
        return granted
    words = operation_id.split("_")
    if len(words) < 2:
        return f"{operation_id}.{method.lower()}"
    if words[0] not in _VERBS and words[-1] in _VERBS:
        words = [words[-1], *words[:-1]]
    return f"{'_'.join(words[1:])}.{past(words[0])}"


@dataclass(frozen=True)
class TargetKind:
    #: the ``target_type`` shown (PlanetScale's where it has one)
    public: str
    #: ORM classes whose rows are this kind of target
    models: tuple[str, ...]


#: action noun -> what its target is
TARGETS: dict[str, TargetKind] = {
    "organization": TargetKind("Organization", ("Organization",)),
    "database": TargetKind("Database", ("Database",)),
    "branch": TargetKind("DatabaseBranch", ("Branch",)),
    "password": TargetKind("DatabaseBranchPassword", ("Credential",)),
    "role": TargetKind("DatabaseBranchRole", ("Credential",)),
    "service_token": TargetKind("ServiceToken", ("ServiceToken",)),
    "oauth_token": TargetKind("OAuthToken", ("OAuthToken",)),
    "oauth_application": TargetKind("OAuthApplication", ("OAuthApplication",)),
    "webhook": TargetKind("DatabaseWebhook", ("Webhook",)),
    "team": TargetKind("Team", ("Team",)),
    "organization_membership": TargetKind("OrganizationMembership", ("Membership",)),
    "organization_member": TargetKind("OrganizationMembership", ("Membership",)),
    "organization_invitation": TargetKind("OrganizationInvitation", ("Invitation",)),
}


def target_kind(action: str) -> TargetKind:
    """The kind of thing an action is about: its noun (``branch`` of ``branch.promoted``)."""
    noun = action.partition(".")[0]
    if action.startswith("organization.") and action.endswith("_member"):
        return TARGETS["organization_membership"]
    if action.startswith("organization.updated_role"):
        return TARGETS["organization_membership"]
    found = TARGETS.get(noun)
    if found is not None:
        return found
    camel = "".join(part.capitalize() for part in noun.split("_"))
    return TargetKind(camel, (camel,))
