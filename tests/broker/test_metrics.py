"""/metrics: off unless BROKER_METRICS_TOKEN is set, then only with that bearer token; Prometheus text with
registrations by outcome, profile and tenant, launches, outbound calls, the outbox, limits and cache lookups."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from broker.services import Services
from tenants.services import CreatedTenant
from tests.conftest import RunningBroker, _serve_broker, unique_slug
from tests.e2e.launching import launch, registered

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def watched_broker(database_url: str) -> Iterator[RunningBroker]:
    yield from _serve_broker(database_url, metrics_token=TOKEN)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: httpx.AsyncClient, broker: RunningBroker) -> Samples:
    answer = await http.get(broker.url("/metrics"), headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


async def test_metrics_are_not_public(
    http: httpx.AsyncClient, broker: RunningBroker, watched_broker: RunningBroker
) -> None:
    assert (await http.get(broker.url("/metrics"))).status_code == 404, "off without BROKER_METRICS_TOKEN"
    assert (await http.get(watched_broker.url("/metrics"))).status_code == 404
    wrong = await http.get(watched_broker.url("/metrics"), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 404


async def test_a_registration_and_a_launch_are_counted(
    http: httpx.AsyncClient, watched_broker: RunningBroker, services: Services
) -> None:
    before = await scrape(http, watched_broker)
    async with registered(http, watched_broker, services) as setup:
        done = await launch(http, setup.platform)
        assert done.relay is not None and done.relay.status_code == 200
    after = await scrape(http, watched_broker)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("broker_registrations_total", outcome="registered", profile="generic", tenant=setup.slug) == 1
    assert grew("broker_launches_total", outcome="launched") >= 1
    assert grew("broker_outbound_requests_total", purpose="registration", status="2xx") >= 2
    assert grew("broker_outbound_request_seconds_count", purpose="registration") >= 2
    assert grew("broker_cache_lookups_total", cache="platform_keys", result="miss") >= 1
    assert ("broker_outbox_pending", ()) in after and ("broker_outbox_oldest_pending_seconds", ()) in after


async def test_refusals_by_a_limit_are_counted(http: httpx.AsyncClient, database_url: str, services: Services) -> None:
    tenant = await services.tenants.create(unique_slug("lim"), "Lim", tool_url="https://tool.example/launch")
    for broker in _serve_broker(database_url, metrics_token=TOKEN, tenant_rate_limit=1):
        before = await scrape(http, broker)
        for _ in range(2):
            await http.get(broker.url(f"/t/{tenant.tenant.slug}/lti/login"))
        after = await scrape(http, broker)
        key = ("broker_rate_limit_refusals_total", (("limit", "public"),))
        assert after[key] - before.get(key, 0.0) == 1


async def test_key_set_lookups_are_counted(
    http: httpx.AsyncClient, watched_broker: RunningBroker, tenant: CreatedTenant
) -> None:
    before = await scrape(http, watched_broker)
    for _ in range(3):
        answer = await http.get(watched_broker.url(f"/t/{tenant.tenant.slug}/.well-known/jwks.json"))
        assert answer.status_code == 200
    after = await scrape(http, watched_broker)
    grew = {
        result: after.get(key, 0.0) - before.get(key, 0.0)
        for result in ("hit", "miss")
        for key in [("broker_cache_lookups_total", (("cache", "jwks"), ("result", result)))]
    }
    assert grew["hit"] + grew["miss"] == 3 and grew["hit"] >= 2
