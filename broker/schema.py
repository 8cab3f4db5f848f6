"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from broker.database import Base
from broker.launch.models import LaunchState
from broker.limits.models import LimitBucket, LimitSlot
from broker.mail import DevelopmentMail
from broker.registration.models import Deployment, Registration, RegistrationAttempt
from broker.tokens.models import PlatformToken
from broker.webhooks.models import OutboxEvent, WebhookDelivery, WebhookDeliveryAttempt
from tenants.accounts.models import Account, AccountLink, AuditEvent, ConsoleSession, Membership
from tenants.models import ApiKey, PlatformSigningKey, SigningKey, SpareSigningKey, Tenant

metadata = Base.metadata

__all__ = [
    "Account",
    "AccountLink",
    "ApiKey",
    "AuditEvent",
    "ConsoleSession",
    "Deployment",
    "DevelopmentMail",
    "LaunchState",
    "LimitBucket",
    "LimitSlot",
    "Membership",
    "OutboxEvent",
    "PlatformSigningKey",
    "PlatformToken",
    "Registration",
    "RegistrationAttempt",
    "SigningKey",
    "SpareSigningKey",
    "Tenant",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "metadata",
]
