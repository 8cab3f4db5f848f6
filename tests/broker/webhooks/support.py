"""Helpers for webhook tests: a tenant whose webhook URL is a tool emulator, and a worker driven by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace

from sqlalchemy import select, update

from broker.database import utcnow
from broker.http_client import OutboundOptions, WebhookPoster
from broker.registration.models import Registration
from broker.services import Services
from broker.webhooks.models import WebhookDelivery, WebhookDeliveryAttempt
from broker.webhooks.outbox import record_event
from broker.webhooks.worker import DeliveryWorker
from tenants.models import Tenant
from tenants.services import CreatedTenant
from tests.conftest import SHORT_OUTBOUND_TIMEOUT, unique_slug
from tests.emulators.tool import ToolEmulator

MAX_ROUNDS = 20


def make_worker(
    services: Services, delays: Sequence[int] = (0, 0, 0), poster: WebhookPoster | None = None
) -> DeliveryWorker:
    """A worker with the given retry delays and no jitter, so that the schedule is exact; it posts with the
    services' poster unless given one."""
    settings = replace(services.settings, webhook_retry_delays=tuple(delays))
    return DeliveryWorker(services.database, poster or services.poster, services.tenants, settings, jitter=lambda: 1.0)


@asynccontextmanager
async def impatient_poster() -> AsyncIterator[WebhookPoster]:
    """A poster that waits SHORT_OUTBOUND_TIMEOUT for a receiver's answer, for the tests of a slow receiver."""
    timeout = SHORT_OUTBOUND_TIMEOUT
    options = OutboundOptions(
        user_agent="lti-broker-tests", allow_insecure=True,
        total_timeout=timeout, connect_timeout=timeout, read_timeout=timeout,
    )  # fmt: skip
    poster = WebhookPoster(options)
    try:
        yield poster
    finally:
        await poster.aclose()


async def drain(worker: DeliveryWorker, rounds: int = MAX_ROUNDS) -> int:
    """Runs the worker until nothing is due (at most `rounds` passes); returns the attempts made."""
    attempts = 0
    for _ in range(rounds):
        done = await worker.run_once()
        if not done:
            return attempts
        attempts += done
    raise AssertionError(f"deliveries still due after {rounds} passes")


@asynccontextmanager
async def hooked_tenant(services: Services, tool: ToolEmulator) -> AsyncIterator[CreatedTenant]:
    """A tenant whose webhooks go to `tool`; its deliveries left pending are closed afterwards, so that
    a later test's worker does not post to an emulator that has stopped."""
    created = await services.tenants.create(unique_slug("hook"), "Hooked Tool", webhook_url=tool.url)
    tool.secret = created.webhook_secret
    try:
        yield created
    finally:
        async with services.database.transaction() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.tenant_id == created.tenant.id, WebhookDelivery.status == "pending")
                .values(status="failed", last_error="test over")
            )


async def add_event(services: Services, tenant_id: str, event_type: str = "registration.updated") -> str:
    """Records an event for the tenant as the broker would, in a transaction of its own; returns its id."""
    async with services.database.transaction() as session:
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        return await record_event(session, tenant, event_type, {"id": "reg_test", "status": "active"})


async def add_events(services: Services, tenant_id: str, count: int) -> None:
    """Records `count` events for the tenant in one transaction, as a burst of changes would."""
    async with services.database.transaction() as session:
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        for number in range(count):
            await record_event(session, tenant, "registration.updated", {"id": f"reg_{number}", "status": "active"})


async def deliveries_of(services: Services, tenant_id: str) -> list[WebhookDelivery]:
    async with services.database.session() as session:
        query = select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id).order_by(WebhookDelivery.id)
        return list((await session.scalars(query)).all())


async def attempts_of(services: Services, delivery_id: str) -> list[WebhookDeliveryAttempt]:
    async with services.database.session() as session:
        query = select(WebhookDeliveryAttempt).where(WebhookDeliveryAttempt.delivery_id == delivery_id)
        return list((await session.scalars(query.order_by(WebhookDeliveryAttempt.number))).all())


async def expire_leases(services: Services, tenant_id: str) -> None:
    """What the clock does to the leases of a worker that died: they run out."""
    async with services.database.transaction() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.lease_expires_at.is_not(None))
            .values(lease_expires_at=utcnow().replace(year=2000))
        )


async def registration_of(services: Services, tenant_id: str) -> Registration:
    async with services.database.session() as session:
        registration = await session.scalar(select(Registration).where(Registration.tenant_id == tenant_id))
        assert registration is not None
        return registration
