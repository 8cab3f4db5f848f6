"""A registration as the API, the CLI and webhooks show it (the external contract's item)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from broker.registration.models import Deployment, Registration


def registration_item(registration: Registration) -> dict[str, Any]:
    granted = list(registration.scopes_granted)
    missing = [scope for scope in registration.scopes_requested if scope not in granted]
    return {
        "id": registration.id,
        "issuer": registration.issuer,
        "client_id": registration.client_id,
        "deployment_ids": [deployment.deployment_id for deployment in registration.deployments],
        "jwks_uri": registration.jwks_uri,
        "token_endpoint": registration.token_endpoint,
        "authorization_endpoint": registration.authorization_endpoint,
        "authorization_server": registration.authorization_server,
        "registration_endpoint": registration.registration_endpoint,
        "product_family_code": registration.product_family_code,
        "platform_version": registration.platform_version,
        "status": registration.status,
        "scopes_requested": list(registration.scopes_requested),
        "scopes_granted": granted,
        "scopes_missing": missing,
        # The platform granted less than was asked when it registered the tool (Canvas admins can narrow scopes).
        "scopes_narrowed": bool(missing),
        "platform_profile": registration.platform_profile,
        "adaptations": list(registration.adaptations or []),
        "verified_at": _timestamp(registration.verified_at),
        "launched_at": _timestamp(registration.launched_at),
        "scope_drift": registration.scope_drift,
        "created_at": _timestamp(registration.created_at),
        "updated_at": _timestamp(registration.updated_at),
    }


def deployment_item(deployment: Deployment) -> dict[str, Any]:
    """A deployment of a registration; `source` says whether registration or a first launch brought it."""
    return {
        "deployment_id": deployment.deployment_id,
        "source": deployment.source,
        "created_at": _timestamp(deployment.created_at),
    }


def _timestamp(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
