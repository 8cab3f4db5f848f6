"""The event feed and webhook deliveries over the API: order, paging, filters, replay, tenant isolation."""

from __future__ import annotations

import httpx
import pytest

from broker.services import Services
from tenants.services import CreatedTenant
from tests.broker.api.support import ApiClient, assert_problem
from tests.broker.webhooks.support import add_event, drain, hooked_tenant, make_worker
from tests.conftest import RunningBroker, unique_slug
from tests.emulators.tool import ToolEmulator

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_feed_pages_in_order_and_next_always_resumes(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    api = ApiClient(http, broker, tenant.api_key)
    empty = await api.json("GET", "/api/v1/events")
    assert empty["items"] == [] and empty["next"], "an empty feed still gives a cursor to poll with"
    ids = [await add_event(services, tenant.tenant.id, kind) for kind in ("registration.created",) * 5]

    seen: list[str] = []
    cursor = empty["next"]
    for _ in range(5):
        page = await api.json("GET", f"/api/v1/events?after={cursor}&limit=2")
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if not page["items"]:
            break
    assert seen == ids
    later = await add_event(services, tenant.tenant.id)
    assert [item["id"] for item in (await api.json("GET", f"/api/v1/events?after={cursor}"))["items"]] == [later]

    one = await api.json("GET", f"/api/v1/events/{ids[0]}")
    assert set(one) == {"id", "type", "timestamp", "data"} and one["type"] == "registration.created"


@pytest.mark.parametrize("cursor", ["%%%", "cmVnXzAx", "bm90LWEtcG9z"])
async def test_a_bad_feed_cursor_is_a_422_problem_naming_it(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant, cursor: str
) -> None:
    answer = await ApiClient(http, broker, tenant.api_key).get(f"/api/v1/events?after={cursor}")
    assert_problem(answer, 422, field="after")


async def test_events_and_deliveries_of_another_tenant_stay_hidden(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    api = ApiClient(http, broker, tenant.api_key)
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as other:
            event_id = await add_event(services, other.tenant.id)
            await drain(make_worker(services))
            (delivery,) = (await ApiClient(http, broker, other.api_key).json("GET", "/api/v1/webhook-deliveries"))[
                "items"
            ]
    assert (await api.json("GET", "/api/v1/events"))["items"] == []
    assert (await api.json("GET", "/api/v1/webhook-deliveries"))["items"] == []
    assert_problem(await api.get(f"/api/v1/events/{event_id}"), 404)
    assert_problem(await api.post(f"/api/v1/events/{event_id}/replay"), 404)
    assert_problem(await api.get(f"/api/v1/webhook-deliveries/{delivery['id']}"), 404)


async def test_deliveries_list_with_attempts_filters_and_pages(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            api = ApiClient(http, broker, tenant.api_key)
            tool.answer_next((500, "first try fails"))
            first = await add_event(services, tenant.tenant.id)
            await drain(make_worker(services))  # alone, so that it is the one the scripted 500 answers
            await add_event(services, tenant.tenant.id)
            await add_event(services, tenant.tenant.id)
            await drain(make_worker(services))
            (replayed,) = [await api.json("POST", f"/api/v1/events/{first}/replay", status=202)]
            assert replayed["status"] == "pending" and replayed["event_id"] == first

            page = await api.json("GET", "/api/v1/webhook-deliveries?limit=2")
            rest = await api.json("GET", f"/api/v1/webhook-deliveries?limit=2&cursor={page['next']}")
            assert len(page["items"]) == 2 and len(rest["items"]) == 2 and rest["next"] is None
            pending = await api.json("GET", "/api/v1/webhook-deliveries?status=pending")
            of_first = await api.json("GET", f"/api/v1/webhook-deliveries?event_id={first}")
            await drain(make_worker(services))
    assert [item["id"] for item in pending["items"]] == [replayed["id"]]
    original, replay = of_first["items"]
    assert original["trigger"] == "event" and replay["trigger"] == "replay"
    assert [(a["number"], a["status_code"], a["outcome"]) for a in original["attempts"]] == [
        (1, 500, "retrying"),
        (2, 204, "succeeded"),
    ]
    assert original["attempts"][0]["response_body"] == "first try fails"
    assert tool.ids().count(first) == 2, "the replay went out with the same webhook-id"


async def test_replay_without_a_webhook_url_is_a_409_problem(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("nohook"), "No Hook")
    event_id = await add_event(services, created.tenant.id)
    problem = assert_problem(
        await ApiClient(http, broker, created.api_key).post(f"/api/v1/events/{event_id}/replay"), 409
    )
    assert "webhook URL" in problem["detail"]
