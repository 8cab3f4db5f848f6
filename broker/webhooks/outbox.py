"""Writing events to the outbox, inside the caller's transaction, so an event exists iff its change does."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from broker.database import utcnow
from broker.webhooks.models import OutboxEvent, WebhookDelivery
from tenants.models import Tenant


def record_event(session: AsyncSession, tenant: Tenant, event_type: str, data: dict[str, Any]) -> OutboxEvent:
    """Adds the event (and a pending delivery when the tenant has a webhook URL) to the session."""
    now = utcnow()
    event = OutboxEvent(
        tenant_id=tenant.id,
        type=event_type,
        payload={"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data},
        created_at=now,
    )
    session.add(event)
    if tenant.webhook_url:
        session.add(
            WebhookDelivery(event=event, tenant_id=tenant.id, url=tenant.webhook_url, next_attempt_at=now)
        )
    return event
