"""A tenant's webhook in the console: its URL (checked as the API checks it), secret rotation (the new secret
shown once), and deliveries with every attempt, each replayable."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admin_ui.console.tenant import NotInThisTenant, actor, page_context, require_owner, tenant_page
from admin_ui.forms import form_values
from admin_ui.pages import render
from broker.database import utcnow
from broker.refusals import Refusal
from broker.services import services
from broker.webhooks.queries import ReplayError, UnknownEventError, list_deliveries, replay_event
from broker.webhooks.representation import delivery_item
from tenants.accounts.service import TenantRole
from tenants.services import TenantError

RECENT_DELIVERIES = 50


class NotReplayed(Refusal):
    status_code = 409
    title = "The event cannot be replayed"
    next_step = "Set a webhook URL above, then replay the event."


async def _page(request: Request, membership: TenantRole, *, secret: str | None = None, message: str | None = None,
                errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                status_code: int = 200) -> Response:  # fmt: skip
    tenant = await services(request).tenants.get_by_slug(membership.tenant.slug)
    assert tenant is not None
    rows = await list_deliveries(services(request).database, tenant_id=tenant.id)
    expires = tenant.webhook_secret_previous_expires_at
    context = page_context(
        membership, "Webhooks", webhook_url=tenant.webhook_url, secret_set=tenant.webhook_secret_encrypted is not None,
        previous_secret_expires_at=expires if expires and expires > utcnow() else None,
        deliveries=[delivery_item(row) for row in rows[-RECENT_DELIVERIES:]][::-1], secret=secret, message=message,
        errors=errors or {}, values=values or {"url": tenant.webhook_url or ""},
    )  # fmt: skip
    return render(request, "console/webhooks.html", context, status_code=status_code)


@tenant_page
async def webhooks(request: Request, membership: TenantRole) -> Response:
    return await _page(request, membership)


@tenant_page
async def set_url(request: Request, membership: TenantRole) -> Response:
    # Where signed events go, and the secret a first URL makes (shown once), are credentials: owners' to change.
    require_owner(membership, "changing the webhook URL")
    values = await form_values(request, "url")
    try:
        endpoint = await services(request).tenants.set_webhook_url(membership.tenant.id, values["url"].strip() or None)
    except TenantError as error:
        return await _page(request, membership, errors={"url": error.reason}, values=values, status_code=400)
    await services(request).accounts.audit.record(
        actor(request), "webhook.url_set", tenant_id=membership.tenant.id, url=endpoint.tenant.webhook_url
    )
    message = "Webhooks now go to this URL." if endpoint.tenant.webhook_url else "Webhooks are off."
    return await _page(request, membership, secret=endpoint.secret, message=message)


@tenant_page
async def rotate_secret(request: Request, membership: TenantRole) -> Response:
    require_owner(membership, "rotating the webhook secret")
    endpoint = await services(request).tenants.rotate_webhook_secret(membership.tenant.id)
    audit = services(request).accounts.audit
    await audit.record(actor(request), "webhook.secret_rotated", tenant_id=membership.tenant.id)
    return await _page(request, membership, secret=endpoint.secret, message="A new secret is made.")


@tenant_page
async def replay(request: Request, membership: TenantRole) -> Response:
    event_id = request.path_params["event_id"]
    try:
        delivery = await replay_event(services(request).database, event_id=event_id, tenant_id=membership.tenant.id)
    except UnknownEventError as error:
        raise NotInThisTenant("No event with this id belongs to this tenant.") from error
    except ReplayError as error:
        raise NotReplayed(str(error)) from error
    await services(request).accounts.audit.record(
        actor(request), "webhook.replayed", tenant_id=membership.tenant.id, event_id=event_id, delivery_id=delivery.id
    )
    return await _page(request, membership, message=f"Event {event_id} is queued for delivery again ({delivery.id}).")
