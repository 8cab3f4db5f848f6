"""Events and webhook deliveries as the API, the CLI and the webhooks themselves show them."""

from __future__ import annotations

from typing import Any

from broker.database import json_time
from broker.webhooks.models import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookDeliveryAttempt


def event_item(event: OutboxEvent) -> dict[str, Any]:
    """The webhook body (`type`, `timestamp`, `data`) with the `id` that is also its `webhook-id` header."""
    return {"id": event.id, **event.payload}


def delivery_item(delivery: WebhookDelivery) -> dict[str, Any]:
    """A delivery with every attempt; `event` and `attempts` must be loaded."""
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": delivery.event.type,
        "url": delivery.url,
        "trigger": delivery.trigger,
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "next_attempt_at": json_time(delivery.next_attempt_at) if delivery.status == DeliveryStatus.PENDING else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": json_time(delivery.created_at),
        "updated_at": json_time(delivery.updated_at),
        "attempts": [attempt_item(attempt) for attempt in delivery.attempts],
    }


def attempt_item(attempt: WebhookDeliveryAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "started_at": json_time(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "status_code": attempt.status_code,
        "response_body": attempt.response_body,
        "error": attempt.error,
        "outcome": attempt.outcome,
    }
