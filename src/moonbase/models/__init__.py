"""ORM models, one concern per module; import them from here."""

from moonbase.models.audit_log import AuditLog as AuditLog
from moonbase.models.base import Base
from moonbase.models.branch import Branch, BranchState, Desired
from moonbase.models.credential import Credential
from moonbase.models.database import Database
from moonbase.models.instance import Instance
from moonbase.models.oauth import OAuthApplication, OAuthAuthorizationCode
from moonbase.models.organization import Organization
from moonbase.models.schema_snapshot import SchemaSnapshot
from moonbase.models.team import Team, TeamMembership
from moonbase.models.token import OAuthToken, ServiceToken, ServiceTokenAccess
from moonbase.models.user import Membership, User
from moonbase.models.webhook import DeliveryState, Webhook, WebhookDelivery

__all__ = [
    "Base",
    "Branch",
    "BranchState",
    "Credential",
    "Database",
    "Desired",
    "Instance",
    "Membership",
    "OAuthApplication",
    "OAuthAuthorizationCode",
    "OAuthToken",
    "Organization",
    "SchemaSnapshot",
    "ServiceToken",
    "ServiceTokenAccess",
    "Team",
    "TeamMembership",
    "User",
    "Webhook",
    "WebhookDelivery",
    "DeliveryState",
]
