"""A registration never moves between tenants.

Moodle offers to *update* a tool it already has on the same domain; an admin who accepts while registering
tenant B rewrites tenant A's tool with B's URLs, and Moodle answers with A's client_id. The broker must keep
A's registration as it was, store nothing for B, tell B's admin what happened (409), tell A's vendor (a
`registration.conflict` event), and refuse the launches Moodle now sends for A's client_id to B's URLs.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select

from broker.registration.models import Registration, RegistrationAttempt
from broker.registration.representation import registration_item
from broker.services import Services
from broker.webhooks.models import OutboxEvent
from tenants.services import CreatedTenant
from tests.conftest import RunningBroker, unique_slug
from tests.e2e.flow import register
from tests.e2e.launching import start
from tests.emulators import MoodleEmulator
from tests.emulators.tool import ToolEmulator


async def _registrations(services: Services, created: CreatedTenant) -> list[Registration]:
    async with services.database.session() as session:
        rows = await session.scalars(select(Registration).where(Registration.tenant_id == created.tenant.id))
        return list(rows)


async def _last_attempt(services: Services, created: CreatedTenant) -> RegistrationAttempt:
    async with services.database.session() as session:
        attempt = await session.scalar(
            select(RegistrationAttempt)
            .where(RegistrationAttempt.tenant_id == created.tenant.id)
            .order_by(RegistrationAttempt.created_at.desc())
        )
    assert attempt is not None
    return attempt


async def _event_types(services: Services, created: CreatedTenant) -> list[str]:
    async with services.database.session() as session:
        rows = await session.scalars(
            select(OutboxEvent.type).where(OutboxEvent.tenant_id == created.tenant.id).order_by(OutboxEvent.sequence)
        )
        return list(rows)


async def test_moodle_updating_another_tenants_tool_moves_nothing(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    with ToolEmulator.running() as tool, MoodleEmulator.running() as moodle:
        first = await services.tenants.create(unique_slug("own"), "First Tool", tool_url=tool.launch_url)
        second = await services.tenants.create(unique_slug("new"), "Second Tool", tool_url=tool.launch_url)
        done = await register(http, broker.url(f"/t/{first.tenant.slug}/lti/register"), moodle)
        assert done.last_page.status_code == 200, done.last_page.text
        (before,) = await _registrations(services, first)

        # Both tools share the broker's one domain, so Moodle offers to update the first; the admin accepts.
        moodle.update_existing_tool = True
        refused = (await register(http, broker.url(f"/t/{second.tenant.slug}/lti/register"), moodle)).last_page

        assert moodle.registrations[-1]["client_id"] == before.client_id, "Moodle answered with the first's id"
        assert refused.status_code == 409, refused.text
        assert "updated another tool" in refused.text
        assert "What to do" in refused.text
        assert await _registrations(services, second) == []
        (after,) = await _registrations(services, first)
        assert (after.id, after.updated_at, after.registration_request) == (
            before.id, before.updated_at, before.registration_request,
        )
        attempt = await _last_attempt(services, second)
        assert attempt.status == "conflict"
        assert attempt.registration_id is None
        assert (await _event_types(services, first))[-1] == "registration.conflict"
        # The owner hears of it with its registration as the API shows it.
        async with services.database.session() as session:
            latest = OutboxEvent.sequence.desc()
            conflict_event = await session.scalar(
                select(OutboxEvent).where(OutboxEvent.tenant_id == first.tenant.id).order_by(latest)
            )
        assert conflict_event is not None and conflict_event.payload["data"] == registration_item(after)
        assert "registration.conflict" not in await _event_types(services, second)

        # Moodle now sends the first tool's launches to the second tool's login URL: refused, never relayed.
        with caplog.at_level(logging.WARNING, logger="broker.launch"):
            launch = await start(http, moodle, client_id=before.client_id)
        assert launch.initiation.url == broker.url(f"/t/{second.tenant.slug}/lti/login")
        assert launch.login.status_code == 409, launch.login.text
        assert "belongs to another tool" in launch.login.text
        assert "location" not in launch.login.headers


async def test_moodle_registering_a_new_tool_beside_another_works(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    """The admin declines Moodle's update offer: two tool types, two registrations, one per tenant."""
    with ToolEmulator.running() as tool, MoodleEmulator.running() as moodle:
        first = await services.tenants.create(unique_slug("own"), "First Tool", tool_url=tool.launch_url)
        second = await services.tenants.create(unique_slug("new"), "Second Tool", tool_url=tool.launch_url)
        for created in (first, second):
            done = await register(http, broker.url(f"/t/{created.tenant.slug}/lti/register"), moodle)
            assert done.last_page.status_code == 200, done.last_page.text
        ((one,), (two,)) = (await _registrations(services, first), await _registrations(services, second))
        assert one.client_id != two.client_id
        assert len(moodle.tool_types) == 2
