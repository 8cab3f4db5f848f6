"""A tenant as the CLI and the API show it: its URLs, and the settings a tenant may change."""

from __future__ import annotations

from typing import Any

from broker.database import json_time
from broker.settings import Settings
from tenants.models import Tenant


def tenant_item(settings: Settings, tenant: Tenant) -> dict[str, Any]:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "registration_url": settings.tenant_url(tenant.slug, "/lti/register"),
        "jwks_url": settings.tenant_url(tenant.slug, "/.well-known/jwks.json"),
        "tool_url": tenant.tool_url,
        "webhook_url": tenant.webhook_url,
        "created_at": json_time(tenant.created_at),
    }


def tenant_settings_item(settings: Settings, tenant: Tenant) -> dict[str, Any]:
    """The tenant with every setting `broker tenants update` and `PATCH /api/v1/tenant` can change."""
    return {
        **tenant_item(settings, tenant),
        "review_registrations": tenant.review_registrations,
        "activation_policy": tenant.activation_policy,
        "accept_new_deployments": tenant.accept_new_deployments,
        "tool_configuration": tenant.tool_configuration,
        "updated_at": json_time(tenant.updated_at),
    }
