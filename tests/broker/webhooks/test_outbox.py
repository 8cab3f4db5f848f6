"""The outbox: a tenant's events numbered without gaps, in the order each transaction recorded them, however
many transactions record at once, through Core connections and ORM sessions alike; rolled back, no number."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from broker.services import Services
from broker.webhooks.models import OutboxEvent, WebhookDelivery
from broker.webhooks.outbox import record_event, record_events
from broker.webhooks.wakeup import Wakeup, listen
from tenants.models import Tenant
from tenants.services import CreatedTenant
from tests.conftest import POSTGRES_URL, unique_slug

pytestmark = pytest.mark.asyncio(loop_scope="session")

WRITERS = 12


async def _events_of(services: Services, tenant_id: str) -> list[OutboxEvent]:
    async with services.database.session() as session:
        query = select(OutboxEvent).where(OutboxEvent.tenant_id == tenant_id).order_by(OutboxEvent.sequence)
        return list((await session.scalars(query)).all())


async def test_concurrent_writers_number_a_tenants_events_without_gaps_each_transactions_in_order(
    services: Services, tenant: CreatedTenant
) -> None:
    tenant_id = tenant.tenant.id

    async def core_writer(writer: int) -> None:
        async with services.database.ephemeral() as connection:
            await record_events(
                connection,
                tenant_id,
                [("test.event", {"writer": writer, "step": step}) for step in range(3)],
                notify=not services.database.is_sqlite,
            )

    async def orm_writer(writer: int) -> None:
        async with services.database.transaction() as session:
            row = await session.get(Tenant, tenant_id)
            assert row is not None
            for step in range(2):
                await record_event(session, row, "test.event", {"writer": writer, "step": step})

    await asyncio.gather(
        *(core_writer(writer) if writer % 2 else orm_writer(writer) for writer in range(WRITERS))
    )
    events = await _events_of(services, tenant_id)
    assert [event.sequence for event in events] == list(range(1, len(events) + 1))
    assert len(events) == WRITERS // 2 * 3 + WRITERS // 2 * 2
    by_writer: dict[int, list[int]] = {}
    for event in events:
        by_writer.setdefault(event.payload["data"]["writer"], []).append(event.sequence)
    for writer, sequences in by_writer.items():
        # A transaction's events hold consecutive numbers, in the order it recorded them.
        assert sequences == list(range(sequences[0], sequences[0] + len(sequences))), writer
        steps = [event.payload["data"]["step"] for event in events if event.payload["data"]["writer"] == writer]
        assert steps == sorted(steps)
    async with services.database.session() as session:
        counter = await session.scalar(select(Tenant.event_sequence).where(Tenant.id == tenant_id))
    assert counter == len(events)


async def test_an_event_rolled_back_takes_no_number_and_deliveries_go_to_the_webhook_url(
    services: Services,
) -> None:
    created = await services.tenants.create(unique_slug("outbox"), "Outbox", webhook_url="https://tool.example/hooks")
    tenant_id = created.tenant.id
    with pytest.raises(RuntimeError):
        async with services.database.ephemeral() as connection:
            await record_events(connection, tenant_id, [("test.event", {"n": 0})], notify=False)
            raise RuntimeError("the change failed")
    async with services.database.ephemeral() as connection:
        events = [("test.event", {"n": 1}), ("test.event", {"n": 2})]
        recorded = await record_events(connection, tenant_id, events, notify=not services.database.is_sqlite)
    assert recorded.delivered
    events = await _events_of(services, tenant_id)
    assert [(event.sequence, event.payload["data"]) for event in events] == [(1, {"n": 1}), (2, {"n": 2})]
    assert [event.id for event in events] == recorded.event_ids
    assert {event.payload["type"] for event in events} == {"test.event"}
    async with services.database.session() as session:
        deliveries = (
            await session.scalars(select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id))
        ).all()
    assert sorted(delivery.event_id for delivery in deliveries) == sorted(recorded.event_ids)
    assert {(delivery.url, delivery.status, delivery.trigger, delivery.attempt_count) for delivery in deliveries} == {
        ("https://tool.example/hooks", "pending", "event", 0)
    }
    async with services.database.transaction() as session:  # no later test's worker posts them
        await session.execute(
            update(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id).values(status="failed")
        )


async def test_more_events_than_one_statement_writes_are_all_recorded_in_order_with_their_deliveries(
    services: Services,
) -> None:
    # A platform's answer may name many deployments, each an event: more rows than one INSERT carries.
    created = await services.tenants.create(unique_slug("many"), "Many", webhook_url="https://tool.example/hooks")
    tenant_id = created.tenant.id
    async with services.database.ephemeral() as connection:
        first = await record_events(connection, tenant_id, [("test.event", {"n": 0})], notify=False)
        events = [("test.event", {"n": n}) for n in range(1, 206)]
        recorded = await record_events(connection, tenant_id, events, notify=not services.database.is_sqlite)
    events_written = await _events_of(services, tenant_id)
    assert [(event.sequence, event.payload["data"]["n"]) for event in events_written] == [
        (n + 1, n) for n in range(206)
    ]
    assert [event.id for event in events_written] == first.event_ids + recorded.event_ids
    assert len(set(recorded.event_ids)) == 205
    async with services.database.transaction() as session:
        deliveries = (
            await session.scalars(select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id))
        ).all()
        assert sorted(delivery.event_id for delivery in deliveries) == sorted(first.event_ids + recorded.event_ids)
        by_event = {event.id: event for event in events_written}
        assert all(delivery.next_attempt_at == by_event[delivery.event_id].created_at for delivery in deliveries)
        await session.execute(  # no later test's worker posts them
            update(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id).values(status="failed")
        )


# Other processes poll SQLite; PostgreSQL wakes them with NOTIFY.
@pytest.mark.skipif(not POSTGRES_URL, reason="LISTEN/NOTIFY is PostgreSQL's: set BROKER_TEST_DATABASE_URL")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_events_recorded_on_a_core_connection_wake_the_other_processes_workers_on_postgresql(
    services: Services,
) -> None:
    created = await services.tenants.create(unique_slug("notify"), "Notify", webhook_url="https://tool.example/hooks")
    wakeup, stop = Wakeup(), asyncio.Event()
    listening = asyncio.create_task(listen(services.settings.database_url, wakeup, stop))
    try:
        await asyncio.wait_for(wakeup.wait(), 10)  # set once listening, for what was committed before
        async with services.database.ephemeral() as connection:
            await record_events(connection, created.tenant.id, [("test.event", {"n": 1})], notify=True)
        await asyncio.wait_for(wakeup.wait(), 10)
    finally:
        stop.set()
        await listening
        async with services.database.transaction() as session:
            await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.tenant_id == created.tenant.id).values(status="failed")
            )
