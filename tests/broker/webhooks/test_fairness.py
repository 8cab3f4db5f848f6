"""Fairness between tenants: one tenant's receiver that never answers, or its backlog of thousands, does not hold
up another tenant's deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from broker.http_client import OutboundOptions, WebhookPoster
from broker.services import Services
from broker.webhooks.worker import CLAIM_SHARE, PER_TENANT, DeliveryWorker
from tests.broker.webhooks.support import (
    add_event,
    add_events,
    attempts_of,
    deliveries_of,
    hooked_tenant,
    make_worker,
)
from tests.emulators.server import base_url_of, bind_loopback
from tests.emulators.tool import ToolEmulator

pytestmark = pytest.mark.asyncio(loop_scope="session")

# A generous wait for what should happen at once, so that a loaded machine does not fail the test.
PATIENCE_S = 60.0
BACKLOG = 1000


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(int(PATIENCE_S / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("it never happened")


async def test_a_receiver_that_never_answers_holds_up_only_its_own_tenants_deliveries(services: Services) -> None:
    hanging = bind_loopback()
    hanging.listen(4 * PER_TENANT)  # takes connections, never reads nor answers
    # Posts wait for an answer as long as the test does: what is asserted is what happens before any answer.
    poster = WebhookPoster(
        OutboundOptions(user_agent="test", allow_insecure=True, total_timeout=PATIENCE_S, read_timeout=PATIENCE_S)
    )
    worker = DeliveryWorker(services.database, poster, services.tenants, services.settings)
    with ToolEmulator.running() as tool:
        async with (
            hooked_tenant(services, ToolEmulator(base_url_of(hanging))) as stuck,
            hooked_tenant(services, tool) as other,
        ):
            for _ in range(2 * PER_TENANT):
                await add_event(services, stuck.tenant.id)
            try:
                while await worker.start_due():
                    pass
                event_id = await add_event(services, other.tenant.id)
                await worker.start_due()
                await until(lambda: tool.ids() == [event_id])
                stuck_deliveries = await deliveries_of(services, stuck.tenant.id)
                attempts = [await attempts_of(services, delivery.id) for delivery in stuck_deliveries]
            finally:
                hanging.close()  # the posts that hang fail now, and are recorded
                await worker.finish()
                await poster.aclose()
    assert [outcome for tried in attempts for outcome in (a.outcome for a in tried)] == ["in_progress"] * PER_TENANT, (
        "the stuck receiver holds its own tenant's places only, and nothing of it was recorded meanwhile"
    )


async def test_a_tenants_backlog_of_thousands_does_not_go_ahead_of_another_tenants_event(services: Services) -> None:
    with ToolEmulator.running() as busy_tool, ToolEmulator.running() as other_tool:
        async with hooked_tenant(services, busy_tool) as busy, hooked_tenant(services, other_tool) as other:
            await add_events(services, busy.tenant.id, BACKLOG)
            event_id = await add_event(services, other.tenant.id)
            worker = make_worker(services)
            await worker.run_once()
    assert other_tool.ids() == [event_id], "the other tenant's event went out in the first pass"
    assert len(busy_tool.ids()) == CLAIM_SHARE, "beside a share of the backlog, not after all of it"
