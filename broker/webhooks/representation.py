"""Events and webhook deliveries as the API, the CLI and the webhooks themselves show them."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from broker.representation import Item, Timestamp
from broker.webhooks.models import (
    AttemptOutcome,
    DeliveryStatus,
    DeliveryTrigger,
    EventType,
    OutboxEvent,
    WebhookDelivery,
    WebhookDeliveryAttempt,
)


class EventItem(Item, title="Event"):
    """The webhook body (`type`, `timestamp`, `data`) with the `id` that is also its `webhook-id` header."""

    id: str = Field(description="Also the `webhook-id` header of its deliveries.")
    type: EventType
    timestamp: str = Field(description="When it happened, ISO-8601 in UTC.", json_schema_extra={"format": "date-time"})
    data: dict[str, Any] = Field(
        description=(
            "The registration as the API shows it (deployment.created: also `deployment_id`, the new "
            "deployment; keys.rotated: the kids)."
        )
    )

    @classmethod
    def of(cls, event: OutboxEvent) -> EventItem:
        return cls(id=event.id, **event.payload)


class DeliveryAttemptItem(Item, title="DeliveryAttempt"):
    number: int
    started_at: Timestamp
    duration_ms: int
    status_code: int | None
    response_body: str | None = Field(description="The receiver's answer, truncated.")
    error: str | None
    outcome: AttemptOutcome

    @classmethod
    def of(cls, attempt: WebhookDeliveryAttempt) -> DeliveryAttemptItem:
        return cls(
            number=attempt.number,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            status_code=attempt.status_code,
            response_body=attempt.response_body,
            error=attempt.error,
            outcome=AttemptOutcome(attempt.outcome),
        )


class DeliveryItem(Item, title="Delivery"):
    """A delivery of an event to the tenant's webhook URL, with every attempt made."""

    id: str
    event_id: str
    event_type: EventType
    url: str
    trigger: DeliveryTrigger
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: Timestamp | None
    last_status_code: int | None
    last_error: str | None
    created_at: Timestamp
    updated_at: Timestamp
    attempts: list[DeliveryAttemptItem]

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryItem:
        """`event` and `attempts` must be loaded."""
        return cls(
            id=delivery.id,
            event_id=delivery.event_id,
            event_type=EventType(delivery.event.type),
            url=delivery.url,
            trigger=DeliveryTrigger(delivery.trigger),
            status=DeliveryStatus(delivery.status),
            attempt_count=delivery.attempt_count,
            next_attempt_at=delivery.next_attempt_at if delivery.status == DeliveryStatus.PENDING else None,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            updated_at=delivery.updated_at,
            attempts=[DeliveryAttemptItem.of(attempt) for attempt in delivery.attempts],
        )


def delivery_item(delivery: WebhookDelivery) -> dict[str, Any]:
    return DeliveryItem.of(delivery).plain()
