"""Webhook deliveries (/api/v1/webhook-deliveries): each delivery of an event with every attempt made."""

from __future__ import annotations

from pydantic import Field

from broker.api.operations import Caller, Operations
from broker.api.pagination import Page
from broker.api.params import Id, Paging
from broker.api.problems import NotFound
from broker.webhooks.models import DeliveryStatus
from broker.webhooks.queries import get_delivery, list_deliveries
from broker.webhooks.representation import DeliveryItem

operations = Operations()


class DeliveryQuery(Paging):
    status: DeliveryStatus | None = Field(default=None, description="Only this status.")
    event_id: Id | None = Field(default=None, description="Only deliveries of this event.")


@operations.get("/webhook-deliveries", "List webhook deliveries with their attempts")
async def deliveries(caller: Caller, query: DeliveryQuery) -> Page[DeliveryItem]:
    rows = await list_deliveries(
        caller.services.database,
        tenant_id=caller.tenant.id,
        status=query.status,
        event_id=query.event_id,
        after_id=query.cursor,
        limit=query.limit + 1,
    )
    return Page[DeliveryItem].of(rows, query.limit, DeliveryItem.of)


@operations.get("/webhook-deliveries/{id}", "One delivery with its attempts", resource="webhook delivery")
async def delivery(caller: Caller, id: str) -> DeliveryItem:
    row = await get_delivery(caller.services.database, tenant_id=caller.tenant.id, delivery_id=id)
    if row is None:
        raise NotFound("webhook delivery")
    return DeliveryItem.of(row)
