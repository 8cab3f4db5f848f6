"""A tenant as the CLI and the API show it: its URLs, the settings a tenant may change, its API keys, its
signing keys and its webhook endpoint."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from broker.database import utcnow
from broker.representation import Item, Timestamp, shown_once
from broker.settings import Settings
from tenants.hosts import site_of
from tenants.models import ActivationPolicy, ApiKey, Tenant
from tenants.services import WebhookEndpoint


class TenantItem(Item, title="TenantSummary"):
    slug: str
    name: str
    registration_url: str = Field(description="On the tenant's own host when it has one.")
    jwks_url: str
    hostname: str | None = Field(
        description="The tenant's own host name, when it has one; its URLs are there. Without one, and with "
        "BROKER_TENANT_DOMAIN set, they are on <slug>.<BROKER_TENANT_DOMAIN>."
    )
    tool_url: str | None
    webhook_url: str | None
    created_at: Timestamp

    @classmethod
    def of(cls, settings: Settings, tenant: Tenant) -> TenantItem:
        site = site_of(settings, tenant)
        return cls(
            slug=tenant.slug,
            name=tenant.name,
            registration_url=site.registration_url,
            jwks_url=site.jwks_url,
            hostname=tenant.hostname,
            tool_url=tenant.tool_url,
            webhook_url=tenant.webhook_url,
            created_at=tenant.created_at,
        )


class TenantSettingsItem(TenantItem, title="Tenant"):
    """The tenant with every setting `broker tenants update` and `PATCH /api/v1/tenant` can change."""

    review_registrations: bool = Field(description="false: one-click registration.")
    activation_policy: ActivationPolicy
    accept_new_deployments: bool
    tool_configuration: dict[str, Any] = Field(description="Messages, scopes, claims, URIs, contacts.")
    updated_at: Timestamp

    @classmethod
    def of(cls, settings: Settings, tenant: Tenant) -> TenantSettingsItem:
        return cls(
            **dict(TenantItem.of(settings, tenant)),
            review_registrations=tenant.review_registrations,
            activation_policy=ActivationPolicy(tenant.activation_policy),
            accept_new_deployments=tenant.accept_new_deployments,
            tool_configuration=tenant.tool_configuration,
            updated_at=tenant.updated_at,
        )


class ApiKeyItem(Item, title="ApiKey"):
    """An API key as the API and the CLI list it: never the key, only its first characters."""

    id: str
    name: str
    prefix: str
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None
    key: str | None = shown_once("The key itself: only in the answer that created it.")

    @classmethod
    def of(cls, row: ApiKey, *, key: str | None = None) -> ApiKeyItem:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            key=key,
        )


class WebhookEndpointItem(Item, title="WebhookEndpoint"):
    url: str | None
    secret_set: bool
    previous_secret_expires_at: Timestamp | None
    secret: str | None = shown_once("Only in the answer that made it: shown once.")

    @classmethod
    def of(cls, tenant: Tenant, *, secret: str | None = None) -> WebhookEndpointItem:
        expires = tenant.webhook_secret_previous_expires_at
        return cls(
            url=tenant.webhook_url,
            secret_set=tenant.webhook_secret_encrypted is not None,
            previous_secret_expires_at=expires if expires and expires > utcnow() else None,
            secret=secret,
        )

    @classmethod
    def made(cls, endpoint: WebhookEndpoint) -> WebhookEndpointItem:
        """The endpoint with the secret a change made, when it made one."""
        return cls.of(endpoint.tenant, secret=endpoint.secret or None)


def tenant_item(settings: Settings, tenant: Tenant) -> dict[str, Any]:
    return TenantItem.of(settings, tenant).plain()


def tenant_settings_item(settings: Settings, tenant: Tenant) -> dict[str, Any]:
    return TenantSettingsItem.of(settings, tenant).plain()


def api_key_item(row: ApiKey) -> dict[str, Any]:
    return ApiKeyItem.of(row).plain()
