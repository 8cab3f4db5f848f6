"""Writing events to the outbox, inside the caller's transaction, so an event exists iff its change does.

Each event takes its tenant's next number (the event feed's order) when the session flushes. The number
comes from an UPDATE of the tenant's counter, whose row lock is held until the transaction ends, so a
tenant's events commit in the order of their numbers and a reader of the feed never skips one that
commits late.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from broker.database import utcnow
from broker.webhooks.models import OutboxEvent, WebhookDelivery
from broker.webhooks.wakeup import recorded
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
        session.add(WebhookDelivery(event=event, tenant_id=tenant.id, url=tenant.webhook_url, next_attempt_at=now))
        recorded(session.sync_session)
    return event


@sqlalchemy_event.listens_for(Session, "before_flush")
def _number_new_events(session: Session, flush_context: Any, instances: Any) -> None:
    # session.new keeps the order objects were added in, so events are numbered in the order recorded.
    for instance in session.new:
        if isinstance(instance, OutboxEvent) and instance.sequence is None:
            instance.sequence = session.execute(
                update(Tenant)
                .where(Tenant.id == instance.tenant_id)
                .values(event_sequence=Tenant.event_sequence + 1, updated_at=Tenant.updated_at)
                .returning(Tenant.event_sequence)
                .execution_options(synchronize_session=False)
            ).scalar_one()
