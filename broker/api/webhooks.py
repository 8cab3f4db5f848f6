"""The tenant's webhook endpoint (/api/v1/webhook): its URL, checked when set, and its secret's rotation.

A secret is shown once, in the answer that made it; after a rotation the previous secret keeps signing
beside the new one until `previous_secret_expires_at`.
"""

from __future__ import annotations

from pydantic import Field

from broker.api.operations import Caller, Operations
from broker.api.params import Body
from broker.api.problems import InvalidInput
from tenants.representation import WebhookEndpointItem
from tenants.services import TenantError

operations = Operations()


class WebhookUrl(Body):
    url: str | None = Field(default=None, description="An https URL; null (or left out) stops webhooks.")


@operations.get("/webhook", "The webhook endpoint")
async def webhook(caller: Caller) -> WebhookEndpointItem:
    return WebhookEndpointItem.of(caller.tenant)


@operations.put(
    "/webhook", "Set the webhook URL (null stops webhooks); the first URL comes with a secret, shown once"
)
async def set_webhook(caller: Caller, body: WebhookUrl) -> WebhookEndpointItem:
    try:
        endpoint = await caller.services.tenants.set_webhook_url(caller.tenant.id, body.url)
    except TenantError as error:
        raise InvalidInput(error.reason, title=f"Invalid {error.field}", field=error.field) from error
    return WebhookEndpointItem.made(endpoint)


@operations.post(
    "/webhook/rotate-secret",
    "A new webhook secret, shown once; the previous one signs too until previous_secret_expires_at",
)
async def rotate_secret(caller: Caller) -> WebhookEndpointItem:
    return WebhookEndpointItem.made(await caller.services.tenants.rotate_webhook_secret(caller.tenant.id))
