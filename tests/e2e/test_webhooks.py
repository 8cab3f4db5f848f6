"""A tenant tool kept in sync: every event of a registration's life reaches the tool emulator, signed and
verified with the standardwebhooks library, exactly as the API's event feed shows it."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from broker.database import utcnow
from broker.key_rotation import PUBLISH_AHEAD
from broker.services import Services
from tenants.models import Tenant
from tests.broker.api.support import ApiClient
from tests.broker.webhooks.support import drain, hooked_tenant, make_worker
from tests.conftest import RunningBroker
from tests.e2e.flow import register
from tests.emulators import GenericEmulator
from tests.emulators.tool import ToolEmulator

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_tool_receives_every_event_exactly_as_the_api_shows_it(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            async with services.database.transaction() as session:
                await session.execute(
                    update(Tenant).where(Tenant.id == tenant.tenant.id).values(activation_policy="pending")
                )
            api = ApiClient(http, broker, tenant.api_key)
            with GenericEmulator.running(create_deployment=True) as platform:
                outcome = await register(http, broker.url(f"/t/{tenant.tenant.slug}/lti/register"), platform)
            assert outcome.last_page.status_code == 200, outcome.last_page.text
            (registration,) = (await api.json("GET", "/api/v1/registrations"))["items"]
            path = f"/api/v1/registrations/{registration['id']}"
            for action in ("activate", "disable", "enable"):
                await api.json("POST", f"{path}/{action}")
            await api.json("POST", "/api/v1/keys/rotate", status=202)
            await services.key_rotation.advance(utcnow() + PUBLISH_AHEAD + timedelta(seconds=1))

            await drain(make_worker(services))
            feed = (await api.json("GET", "/api/v1/events"))["items"]
            current = await api.json("GET", path)

    assert [event["type"] for event in feed] == [
        "registration.created",
        "deployment.created",
        "registration.activated",
        "registration.disabled",
        "registration.activated",
        "keys.rotated",
    ]
    assert not tool.rejected, "every signature verified"
    received = {hook.webhook_id: hook.payload for hook in tool.received}
    assert sorted(received) == sorted(event["id"] for event in feed), "each event once, by its id"
    for event in feed:
        assert received[event["id"]] == {key: event[key] for key in ("type", "timestamp", "data")}
    assert feed[0]["data"]["status"] == "pending" and feed[0]["data"]["deployment_ids"]
    (deployment_id,) = feed[0]["data"]["deployment_ids"]
    assert feed[1]["data"]["deployment_id"] == deployment_id, "the event names the deployment it announces"
    assert "deployment_id" not in feed[0]["data"]
    assert feed[4]["data"] == current, "the last registration event is the registration as the API shows it"
