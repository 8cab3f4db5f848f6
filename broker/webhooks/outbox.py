"""Writing events to the outbox, inside the caller's transaction, so an event exists iff its change does.

`record_events` is the one way an event is written, by Core statements built once: the events of one tenant
take their numbers (the event feed's order) together, from one UPDATE of the tenant's counter, whose row lock
is held until the transaction ends, so a tenant's events commit in the order of their numbers and a reader of
the feed never skips one that commits late; they are written by one INSERT, and their deliveries by another.
`record_event` writes one through an ORM session's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.database import Base, new_id, utcnow
from broker.limits.store import Joining
from broker.webhooks.models import DeliveryStatus, DeliveryTrigger, OutboxEvent, WebhookDelivery
from broker.webhooks.wakeup import NOTIFY, recorded
from tenants.models import Tenant

# The counter moves by the number of events at once and answers the last number taken, and the webhook URL as
# it stands under the lock (where the deliveries go); `updated_at` is left as it was: numbering is not an edit.
_TAKE_NUMBERS = (
    update(Tenant)
    .where(Tenant.id == bindparam("tenant"))
    .values(event_sequence=Tenant.event_sequence + bindparam("count"), updated_at=Tenant.updated_at)
    .returning(Tenant.event_sequence, Tenant.webhook_url)
)
_EVENT_COLUMNS = ("id", "tenant_id", "sequence", "type", "payload", "created_at")
_DELIVERY_COLUMNS = (
    "id", "event_id", "tenant_id", "url", "trigger", "status", "attempt_count", "next_attempt_at", "created_at",
    "updated_at",
)  # fmt: skip


# Rows written by one INSERT at most: far below both databases' limits on a statement's parameters.
_ROWS_AT_ONCE = 100


@lru_cache(maxsize=2 * _ROWS_AT_ONCE)
def _insert_rows(model: type[Base], columns: tuple[str, ...], count: int) -> Insert:
    """One INSERT of `count` rows of `columns`, built once per count (run once a row, a statement cost a driver
    call each): row i's values are named `<column>_<i>`."""
    table = model.__table__
    rows = [{name: bindparam(f"{name}_{i}", type_=table.c[name].type) for name in columns} for i in range(count)]
    return insert(model).values(rows)


async def _insert(
    connection: Joining, model: type[Base], columns: tuple[str, ...], rows: Sequence[dict[str, Any]]
) -> None:
    """Writes `rows` (values of `columns` each) by as few statements as the limit lets."""
    for start in range(0, len(rows), _ROWS_AT_ONCE):
        chunk = rows[start : start + _ROWS_AT_ONCE]
        values = {f"{name}_{i}": row[name] for i, row in enumerate(chunk) for name in columns}
        await connection.execute(_insert_rows(model, columns, len(chunk)), values)


@dataclass(frozen=True, slots=True)
class Recorded:
    event_ids: list[str]
    # Deliveries were written: once the transaction commits, wake this process's workers
    # (`wakeup.wake_this_process`).
    delivered: bool


async def record_events(
    connection: Joining, tenant_id: str, events: Sequence[tuple[str, dict[str, Any]]], *, notify: bool
) -> Recorded:
    """Writes the tenant's events (type and data each), numbered in the order given, and a pending delivery of
    each when the tenant has a webhook URL. `notify`: with deliveries, tell the other processes' workers by
    PostgreSQL's NOTIFY, which reaches them with the commit (a session sends its own as it commits)."""
    if not events:
        return Recorded([], delivered=False)
    taken = (await connection.execute(_TAKE_NUMBERS, {"tenant": tenant_id, "count": len(events)})).first()
    if taken is None:
        raise LookupError(f"no tenant {tenant_id!r} to record events of")
    first = taken.event_sequence - len(events) + 1
    rows: list[dict[str, Any]] = []
    event_ids: list[str] = []
    for sequence, (event_type, data) in enumerate(events, start=first):
        now = utcnow()
        payload = {"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data}
        event_ids.append(new_id("msg"))
        rows.append(
            {
                "id": event_ids[-1],
                "tenant_id": tenant_id,
                "sequence": sequence,
                "type": event_type,
                "payload": payload,
                "created_at": now,
            }
        )
    await _insert(connection, OutboxEvent, _EVENT_COLUMNS, rows)
    url = taken.webhook_url
    if not url:
        return Recorded(event_ids, delivered=False)
    await _insert(
        connection,
        WebhookDelivery,
        _DELIVERY_COLUMNS,
        [
            {
                "id": new_id("dlv"),
                "event_id": row["id"],
                "tenant_id": tenant_id,
                "url": url,
                "trigger": DeliveryTrigger.EVENT,
                "status": DeliveryStatus.PENDING,
                "attempt_count": 0,
                "next_attempt_at": row["created_at"],
                "created_at": row["created_at"],
                "updated_at": row["created_at"],
            }
            for row in rows
        ],
    )
    if notify:
        await connection.execute(NOTIFY)
    return Recorded(event_ids, delivered=True)


async def record_event(session: AsyncSession, tenant: Tenant, event_type: str, data: dict[str, Any]) -> str:
    """Writes the event (and a pending delivery when the tenant has a webhook URL) in the session's transaction,
    whose commit wakes the delivery workers; the event's id."""
    recorded_events = await record_events(await session.connection(), tenant.id, [(event_type, data)], notify=False)
    if recorded_events.delivered:
        recorded(session.sync_session)
    return recorded_events.event_ids[0]
