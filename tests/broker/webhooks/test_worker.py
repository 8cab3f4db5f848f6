"""Delivery reliability: receivers that are down, slow, failing or gone; a worker that dies mid-delivery; two
workers on one PostgreSQL. Each time, nothing is lost and the receiver can de-duplicate by webhook-id.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from broker.app import create_app
from broker.database import Database, utcnow
from broker.services import Services
from broker.webhooks.models import AttemptOutcome
from broker.webhooks.worker import MAX_RESPONSE_BODY, DeliveryWorker
from tests.broker.webhooks.support import (
    add_event,
    attempts_of,
    deliveries_of,
    drain,
    expire_leases,
    hooked_tenant,
    impatient_poster,
    make_worker,
)
from tests.conftest import POSTGRES_URL, SHORT_OUTBOUND_TIMEOUT, RunningBroker, make_settings
from tests.emulators.server import LoopbackServer, base_url_of, bind_loopback, serve_on
from tests.emulators.tool import ToolEmulator

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_delivery_arrives_signed_with_the_event_id_as_webhook_id(services: Services) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            event_id = await add_event(services, tenant.tenant.id)
            assert await drain(make_worker(services)) >= 1
            (delivery,) = await deliveries_of(services, tenant.tenant.id)
    assert tool.ids() == [event_id] and not tool.rejected
    assert tool.received[0].payload["type"] == "registration.updated"
    assert delivery.status == "succeeded" and delivery.attempt_count == 1 and delivery.last_status_code == 204


async def test_one_delivery_attempt_counts_once_in_the_metrics(services: Services) -> None:
    def succeeded() -> float:
        labels = {"outcome": AttemptOutcome.SUCCEEDED.value}
        return REGISTRY.get_sample_value("broker_webhook_deliveries_total", labels) or 0.0

    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            before = succeeded()
            await add_event(services, tenant.tenant.id)
            await drain(make_worker(services))
    assert succeeded() - before == 1


async def test_a_failing_receiver_is_retried_and_every_attempt_is_recorded(services: Services) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            tool.answer_next((500, "x" * 5000), (503, "busy"))
            event_id = await add_event(services, tenant.tenant.id)
            await drain(make_worker(services))
            (delivery,) = await deliveries_of(services, tenant.tenant.id)
            attempts = await attempts_of(services, delivery.id)
    assert tool.ids() == [event_id]
    assert delivery.status == "succeeded" and delivery.attempt_count == 3
    assert [(a.number, a.status_code, a.outcome) for a in attempts] == [
        (1, 500, "retrying"),
        (2, 503, "retrying"),
        (3, 204, "succeeded"),
    ]
    assert attempts[0].response_body == "x" * MAX_RESPONSE_BODY
    assert attempts[1].response_body == "busy"
    assert all(a.duration_ms >= 0 for a in attempts)


async def test_a_receiver_answering_nul_bytes_has_its_answer_recorded_on_both_engines(services: Services) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            tool.answer_next((500, "bad\x00gateway"))
            await add_event(services, tenant.tenant.id)
            await drain(make_worker(services))
            (delivery,) = await deliveries_of(services, tenant.tenant.id)
            attempts = await attempts_of(services, delivery.id)
    assert delivery.status == "succeeded" and delivery.attempt_count == 2
    assert attempts[0].status_code == 500 and attempts[0].response_body == "bad\ufffdgateway"


async def test_a_retry_waits_for_the_configured_delay(services: Services) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            tool.answer_next((500, "down for maintenance"))
            await add_event(services, tenant.tenant.id)
            worker = make_worker(services, delays=(300, 1800))
            before = utcnow()
            await drain(worker)
            (delivery,) = await deliveries_of(services, tenant.tenant.id)
            assert await worker.run_once() == 0, "not due again before its delay"
    assert delivery.status == "pending" and delivery.attempt_count == 1
    assert timedelta(seconds=299) <= delivery.next_attempt_at - before <= timedelta(seconds=310)


async def test_when_the_delays_run_out_the_delivery_fails_and_a_replay_delivers_it(
    services: Services, broker: RunningBroker, http: httpx.AsyncClient
) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            tool.answer_next(*[(500, "no")] * 3)
            event_id = await add_event(services, tenant.tenant.id)
            await drain(make_worker(services, delays=(0, 0)))
            (failed,) = await deliveries_of(services, tenant.tenant.id)
            assert failed.status == "failed" and failed.attempt_count == 3
            assert failed.last_error and "3 attempts" in failed.last_error
            assert tool.ids() == []

            replay = await http.post(
                broker.url(f"/api/v1/events/{event_id}/replay"), headers={"Authorization": f"Bearer {tenant.api_key}"}
            )
            assert replay.status_code == 202 and replay.json()["trigger"] == "replay"
            await drain(make_worker(services))
    assert tool.ids() == [event_id]


async def test_410_gone_stops_the_delivery_at_once(services: Services) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            tool.answer_next((410, "this hook was deleted"))
            await add_event(services, tenant.tenant.id)
            await drain(make_worker(services))
            (delivery,) = await deliveries_of(services, tenant.tenant.id)
            (attempt,) = await attempts_of(services, delivery.id)
    assert delivery.status == "failed" and delivery.attempt_count == 1 and delivery.last_status_code == 410
    assert delivery.last_error and "410" in delivery.last_error
    assert attempt.response_body == "this hook was deleted"


async def test_a_receiver_that_is_down_gets_the_event_once_it_is_back(services: Services) -> None:
    sock = bind_loopback()  # bound but not listening: connections are refused, as to a stopped server
    tool = ToolEmulator(base_url_of(sock))
    async with hooked_tenant(services, tool) as tenant:
        event_id = await add_event(services, tenant.tenant.id)
        worker = make_worker(services)
        assert await worker.run_once() == 1
        (delivery,) = await deliveries_of(services, tenant.tenant.id)
        assert delivery.status == "pending" and delivery.last_error and "connect" in delivery.last_error
        with serve_on(sock, tool.app(), lifespan="off"):
            await drain(worker)
        (delivery,) = await deliveries_of(services, tenant.tenant.id)
    assert delivery.status == "succeeded" and delivery.attempt_count == 2
    assert tool.ids() == [event_id]


async def test_a_slow_receiver_times_out_and_is_retried(services: Services) -> None:
    with ToolEmulator.running(delay=SHORT_OUTBOUND_TIMEOUT + 0.5) as tool:
        async with hooked_tenant(services, tool) as tenant, impatient_poster() as poster:
            event_id = await add_event(services, tenant.tenant.id)
            worker = make_worker(services, poster=poster)
            assert await worker.run_once() == 1
            tool.delay = 0
            await drain(worker)
            (delivery,) = await deliveries_of(services, tenant.tenant.id)
            first, second = await attempts_of(services, delivery.id)
    assert first.outcome == "retrying" and first.status_code is None
    assert first.error and "no complete answer within" in first.error
    assert second.outcome == "succeeded" and delivery.status == "succeeded"
    # The slow receiver may have finished handling the first post too: at least once, one webhook-id.
    assert set(tool.ids()) == {event_id}


async def test_a_worker_killed_mid_delivery_leaves_it_to_be_delivered_after_restart(services: Services) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            event_id = await add_event(services, tenant.tenant.id)
            dead = make_worker(services)
            (claim,) = await dead.claim()  # it took the delivery, then died before posting
            restarted = make_worker(services)
            assert await restarted.run_once() == 0, "a leased delivery is not attempted twice at once"
            assert tool.ids() == []

            await expire_leases(services, tenant.tenant.id)
            await drain(restarted)
            (delivery,) = await deliveries_of(services, tenant.tenant.id)
            attempts = await attempts_of(services, delivery.id)
    assert tool.ids() == [event_id]
    assert delivery.id == claim.delivery_id and delivery.status == "succeeded"
    assert [(a.number, a.outcome) for a in attempts] == [(1, "interrupted"), (2, "succeeded")]


async def test_a_worker_that_outlived_its_lease_does_not_overwrite_the_new_owner(services: Services) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            await add_event(services, tenant.tenant.id)
            stale = make_worker(services)
            (old_claim,) = await stale.claim()
            await expire_leases(services, tenant.tenant.id)
            (new_claim,) = await make_worker(services).claim()
            tool.answer_next((500, "stale attempt"))
            await stale.attempt(old_claim)
            (delivery,) = await deliveries_of(services, tenant.tenant.id)
    assert delivery.lease_owner == new_claim.lease_owner and delivery.status == "pending"


async def test_a_removed_webhook_url_fails_the_queued_deliveries(services: Services) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            await add_event(services, tenant.tenant.id)
            await services.tenants.set_webhook_url(tenant.tenant.id, None)
            await drain(make_worker(services))
            (delivery,) = await deliveries_of(services, tenant.tenant.id)
    assert delivery.status == "failed" and delivery.last_error and "webhook URL" in delivery.last_error
    assert tool.ids() == []


# SQLite runs a single worker; concurrent workers with row leases are a PostgreSQL setting.
@pytest.mark.skipif(not POSTGRES_URL, reason="concurrent workers share PostgreSQL: set BROKER_TEST_DATABASE_URL")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_workers_on_postgresql_never_attempt_a_delivery_twice_at_once(
    services: Services, database_url: str
) -> None:
    second_database = Database(database_url)
    try:
        async with second_database.session() as session:  # connected before the race starts
            await session.execute(text("SELECT 1"))
        with ToolEmulator.running(delay=0.2) as tool:
            async with hooked_tenant(services, tool) as tenant:
                ids = [await add_event(services, tenant.tenant.id) for _ in range(30)]
                first = make_worker(services)
                second = DeliveryWorker(
                    second_database, services.poster, services.tenants, first.settings, jitter=lambda: 1.0
                )
                counts = await asyncio.gather(drain(first), drain(second))
                deliveries = await deliveries_of(services, tenant.tenant.id)
    finally:
        await second_database.dispose()
    assert sum(counts) == 30 and min(counts) > 0, "both workers took part"
    assert sorted(tool.ids()) == sorted(ids), "each event exactly once"
    assert all(d.status == "succeeded" and d.attempt_count == 1 for d in deliveries)


async def test_the_worker_inside_broker_serve_delivers(
    services: Services, database_url: str, http: httpx.AsyncClient
) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            sock = bind_loopback()
            settings = make_settings(database_url, base_url_of(sock), run_worker=True, webhook_retry_delays=(0,))
            with LoopbackServer(create_app(settings), sock, lifespan="on"):
                event_id = await add_event(services, tenant.tenant.id)
                for _ in range(100):
                    if tool.ids():
                        break
                    await asyncio.sleep(0.05)
    assert tool.ids() == [event_id]
