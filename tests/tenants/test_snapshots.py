"""The registration pages keep each tenant's row a moment: a change made through this process reaches the
tenant's very next registration step, one made by another process within SNAPSHOT_TTL, and a tenant created
after its registration URL was tried is found at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from urllib.parse import urljoin

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import update

from broker.app import create_app
from broker.database import utcnow
from broker.services import Services
from tenants.models import Tenant
from tenants.services import CreatedTenant, TenantService
from tenants.snapshots import SNAPSHOT_TTL
from tests.clock import Clock
from tests.conftest import RunningBroker, unique_slug
from tests.e2e.flow import forms_of
from tests.emulators import GenericEmulator
from tests.emulators.rules import TOOL_CONFIG_KEY

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Pages:
    """A broker process serving the registration pages in this test's loop, its tenant service on `clock`."""

    http: httpx.AsyncClient
    tenants: TenantService
    clock: Clock


@pytest_asyncio.fixture(loop_scope="session")
async def pages(broker: RunningBroker) -> AsyncIterator[Pages]:
    clock = Clock()
    app = create_app(broker.settings)
    async with app.router.lifespan_context(app):
        running: Services = app.state.services
        tenants = TenantService(running.database, running.settings, running.secret_box, running.key_ring, clock=clock)
        app.state.services = replace(running, tenants=tenants)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=broker.base_url, timeout=20) as http:
            yield Pages(http, tenants, clock)


async def first_step(pages: Pages, slug: str, platform: GenericEmulator) -> httpx.Response:
    """The initiation from the LMS: the review page, when the tenant is served."""
    registration_url = pages.http.base_url.join(f"/t/{slug}/lti/register")
    return await pages.http.get(platform.initiation_url(str(registration_url)))


async def second_step(pages: Pages, review: httpx.Response) -> httpx.Response:
    """The admin submits the review form as it stands."""
    assert review.status_code == 200, review.text
    form = forms_of(review.text)[0]
    return await pages.http.post(urljoin(str(review.url), form.action), data=form.fields)


async def new_tenant(tenants: TenantService) -> CreatedTenant:
    return await tenants.create(unique_slug("snap"), "Acme Quiz")


async def test_a_tenant_suspended_through_this_process_is_refused_at_its_very_next_step(pages: Pages) -> None:
    created = await new_tenant(pages.tenants)
    with GenericEmulator.running() as platform:
        review = await first_step(pages, created.tenant.slug, platform)
        await pages.tenants.set_suspended(created.tenant.id, True)
        refused = await second_step(pages, review)
        assert refused.status_code == 403 and "This tool is suspended" in refused.text
        await pages.tenants.set_suspended(created.tenant.id, False)
        assert (await first_step(pages, created.tenant.slug, platform)).status_code == 200
    assert platform.registrations == []


async def test_a_rename_and_a_new_tool_configuration_reach_the_very_next_step(pages: Pages) -> None:
    created = await new_tenant(pages.tenants)
    with GenericEmulator.running() as platform:
        review = await first_step(pages, created.tenant.slug, platform)
        assert "Acme Quiz" in review.text
        changes = {"name": "Renamed Quiz", "tool_configuration": {"description": "Quizzes, renamed."}}
        await pages.tenants.update(created.tenant.id, changes)
        registered = await second_step(pages, review)
    assert registered.status_code == 200 and "Renamed Quiz" in registered.text, registered.text
    (sent,) = platform.registrations
    assert sent["client_name"] == "Renamed Quiz"
    assert sent[TOOL_CONFIG_KEY]["description"] == "Quizzes, renamed."


async def test_a_change_made_by_another_process_reaches_the_pages_within_the_snapshot_ttl(
    pages: Pages, services: Services
) -> None:
    created = await new_tenant(pages.tenants)
    with GenericEmulator.running() as platform:
        assert (await first_step(pages, created.tenant.slug, platform)).status_code == 200
        # Another broker process (or the CLI) suspends the tenant: its own writes, which this process never sees.
        async with services.database.transaction() as session:
            await session.execute(update(Tenant).where(Tenant.id == created.tenant.id).values(suspended_at=utcnow()))
        pages.clock.now += SNAPSHOT_TTL / 2
        assert (await first_step(pages, created.tenant.slug, platform)).status_code == 200
        pages.clock.now += SNAPSHOT_TTL / 2
        refused = await first_step(pages, created.tenant.slug, platform)
    assert refused.status_code == 403 and "This tool is suspended" in refused.text


async def test_a_tenant_created_after_its_url_was_tried_is_found_at_once(pages: Pages, services: Services) -> None:
    slug = unique_slug("late")
    with GenericEmulator.running() as platform:
        unknown = await first_step(pages, slug, platform)
        assert unknown.status_code == 404 and "No such tool" in unknown.text
        # Created by another process: nothing tells this one.
        await services.tenants.create(slug, "Late Quiz")
        found = await first_step(pages, slug, platform)
    assert found.status_code == 200 and "Late Quiz" in found.text
