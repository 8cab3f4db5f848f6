"""The outbox: events written in the same transaction as the change they announce, and their deliveries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.database import Base, new_id, utcnow


class EventType(StrEnum):
    REGISTRATION_CREATED = "registration.created"
    REGISTRATION_UPDATED = "registration.updated"
    REGISTRATION_ACTIVATED = "registration.activated"
    REGISTRATION_DISABLED = "registration.disabled"
    # A platform answered another tenant's registration with this one's client_id: the LMS rewrote this tool.
    REGISTRATION_CONFLICT = "registration.conflict"
    DEPLOYMENT_CREATED = "deployment.created"
    KEYS_ROTATED = "keys.rotated"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DeliveryTrigger(StrEnum):
    """Why a delivery exists: an event as it happened, or a replay someone asked for."""

    EVENT = "event"
    REPLAY = "replay"


class AttemptOutcome(StrEnum):
    """What one POST of a delivery came to; `interrupted` when its worker stopped before the answer."""

    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    # The feed and a tenant's cascade read (tenant_id, sequence), an event is found by its id: no statement reads
    # (tenant_id, id), whose page each event's commit wrote, so SQLite has none (migration 0018). PostgreSQL
    # keeps the one its running processes were deployed with: migrations there only add.
    __table_args__ = (
        Index(None, "tenant_id", "id").ddl_if(dialect="postgresql"),
        UniqueConstraint("tenant_id", "sequence"),
    )

    # The id doubles as the Standard Webhooks `webhook-id`, so receivers can de-duplicate retries.
    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("msg"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # The tenant's event number: the event feed's order, gap-free and in commit order (see outbox.py).
    sequence: Mapped[int] = mapped_column()
    type: Mapped[str] = mapped_column(String(60))  # an EventType
    payload: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index(None, "status", "next_attempt_at"), Index(None, "tenant_id", "created_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("dlv"))
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    trigger: Mapped[str] = mapped_column(String(20), default=DeliveryTrigger.EVENT, server_default="event")
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A worker holds a delivery while it posts; when the lease expires unfinished, the delivery is due again.
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    lease_owner: Mapped[str | None] = mapped_column(String(40))
    last_status_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    event: Mapped[OutboxEvent] = relationship(lazy="raise")
    attempts: Mapped[list[WebhookDeliveryAttempt]] = relationship(
        lazy="raise", order_by="WebhookDeliveryAttempt.number", passive_deletes=True
    )


class WebhookDeliveryAttempt(Base):
    """One POST of a delivery and what came of it: the receiver's status and (truncated) answer, or the error."""

    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("dat"))
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column()
    duration_ms: Mapped[int] = mapped_column()
    status_code: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))  # an AttemptOutcome
