"""Reading the outbox for the API and the CLI, and queueing a replay; a tenant only ever sees its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from broker.database import Database, utcnow
from broker.webhooks.models import DeliveryTrigger, OutboxEvent, WebhookDelivery
from broker.webhooks.wakeup import recorded
from tenants.models import Tenant


class ReplayError(Exception):
    """The event cannot be replayed; the message says why and what to do."""


class UnknownEventError(ReplayError):
    pass


@dataclass(frozen=True)
class OutboxDepth:
    pending: int  # deliveries not yet delivered (nor given up)
    oldest_pending_event_at: datetime | None  # when the oldest of their events happened


async def outbox_depth(database: Database) -> OutboxDepth:
    """How far webhook delivery is behind, across every tenant (for the operator)."""
    query = (
        select(func.count(WebhookDelivery.id), func.min(OutboxEvent.created_at))
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.status == "pending")
    )
    async with database.session() as session:
        count, oldest = (await session.execute(query)).one()
    if oldest is not None and oldest.tzinfo is None:  # an aggregate loses the column type's time zone on SQLite
        oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=UTC)
    return OutboxDepth(count, oldest)


async def list_events(database: Database, *, tenant_id: str, after_sequence: int, limit: int) -> list[OutboxEvent]:
    """The tenant's events after a position of the feed, oldest first."""
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.tenant_id == tenant_id, OutboxEvent.sequence > after_sequence)
        .order_by(OutboxEvent.sequence)
        .limit(limit)
    )
    async with database.session() as session:
        return list((await session.scalars(query)).all())


async def get_event(database: Database, *, tenant_id: str, event_id: str) -> OutboxEvent | None:
    async with database.session() as session:
        return await session.scalar(
            select(OutboxEvent).where(OutboxEvent.id == event_id, OutboxEvent.tenant_id == tenant_id)
        )


async def list_deliveries(
    database: Database,
    *,
    tenant_id: str | None,
    status: str | None = None,
    event_id: str | None = None,
    after_id: str | None = None,
    limit: int | None = None,
) -> list[WebhookDelivery]:
    query = _with_details(select(WebhookDelivery)).order_by(WebhookDelivery.id)
    if tenant_id is not None:
        query = query.where(WebhookDelivery.tenant_id == tenant_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if event_id is not None:
        query = query.where(WebhookDelivery.event_id == event_id)
    if after_id is not None:
        query = query.where(WebhookDelivery.id > after_id)
    if limit is not None:
        query = query.limit(limit)
    async with database.session() as session:
        return list((await session.scalars(query)).all())


async def get_delivery(database: Database, *, tenant_id: str, delivery_id: str) -> WebhookDelivery | None:
    query = _with_details(select(WebhookDelivery)).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.tenant_id == tenant_id
    )
    async with database.session() as session:
        return await session.scalar(query)


async def replay_event(database: Database, *, event_id: str, tenant_id: str | None) -> WebhookDelivery:
    """A new delivery of the event, due now, to the tenant's current webhook URL, with the same webhook-id.

    `tenant_id` (the API) limits it to that tenant's events; None (the operator's CLI) does not.
    """
    async with database.transaction() as session:
        query = select(OutboxEvent, Tenant).join(Tenant, Tenant.id == OutboxEvent.tenant_id)
        query = query.where(OutboxEvent.id == event_id)
        if tenant_id is not None:
            query = query.where(OutboxEvent.tenant_id == tenant_id)
        found = (await session.execute(query)).first()
        if found is None:
            raise UnknownEventError(f"no event {event_id!r}; the event feed lists them")
        event, tenant = found
        if not tenant.webhook_url:
            raise ReplayError("there is no webhook URL to deliver to; set one first")
        delivery = WebhookDelivery(
            event=event,
            tenant_id=tenant.id,
            url=tenant.webhook_url,
            trigger=DeliveryTrigger.REPLAY,
            next_attempt_at=utcnow(),
        )
        session.add(delivery)
        recorded(session.sync_session)
        await session.flush()
        delivery_id = delivery.id
    found_delivery = await get_delivery(database, tenant_id=tenant.id, delivery_id=delivery_id)
    assert found_delivery is not None
    return found_delivery


def _with_details(query: Select[WebhookDelivery]) -> Select[WebhookDelivery]:
    return query.options(selectinload(WebhookDelivery.event), selectinload(WebhookDelivery.attempts))
