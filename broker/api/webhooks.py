"""The tenant's webhook endpoint (/api/v1/webhook): its URL, checked when set, and its secret's rotation.

A secret is shown once, in the answer that made it; after a rotation the previous secret keeps signing
beside the new one until `previous_secret_expires_at`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.params import json_object
from broker.api.problems import ApiProblem
from broker.database import json_time, utcnow
from tenants.models import Tenant
from tenants.services import TenantError, WebhookEndpoint


def endpoint_item(tenant: Tenant) -> dict[str, Any]:
    expires = tenant.webhook_secret_previous_expires_at
    return {
        "url": tenant.webhook_url,
        "secret_set": tenant.webhook_secret_encrypted is not None,
        "previous_secret_expires_at": json_time(expires) if expires and expires > utcnow() else None,
    }


def _with_secret(endpoint: WebhookEndpoint) -> dict[str, Any]:
    item = endpoint_item(endpoint.tenant)
    if endpoint.secret:
        item["secret"] = endpoint.secret
    return item


async def webhook(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    return JSONResponse(endpoint_item(tenant))


async def set_webhook(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    body = await json_object(request)
    url = body.get("url")
    if url is not None and not isinstance(url, str):
        raise ApiProblem(422, "Invalid webhook_url", "`url` must be an https URL, or null to stop webhooks.")
    try:
        endpoint = await request.app.state.tenants.set_webhook_url(tenant.id, url)
    except TenantError as error:
        raise ApiProblem(422, f"Invalid {error.field}", error.reason) from error
    return JSONResponse(_with_secret(endpoint))


async def rotate_secret(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    endpoint = await request.app.state.tenants.rotate_webhook_secret(tenant.id)
    return JSONResponse(_with_secret(endpoint))


routes = [
    Route("/api/v1/webhook", webhook, methods=["GET"]),
    Route("/api/v1/webhook", set_webhook, methods=["PUT"]),
    Route("/api/v1/webhook/rotate-secret", rotate_secret, methods=["POST"]),
]
