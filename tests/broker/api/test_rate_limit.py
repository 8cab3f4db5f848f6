"""Rate limiting per API key: a 429 problem with Retry-After once a key has used its requests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from broker.api.rate_limit import RateLimiter
from broker.services import Services
from tests.broker.api.support import ApiClient, assert_problem
from tests.conftest import RunningBroker, _serve_broker, unique_slug


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    assert [limiter.take("a") for _ in range(60)] == [0.0] * 60
    assert limiter.take("a") == pytest.approx(1.0)
    assert limiter.take("b") == 0.0, "each key has its own bucket"
    clock.now += 2
    assert limiter.take("a") == 0.0 and limiter.take("a") == 0.0
    assert limiter.take("a") > 0


@pytest.fixture
def limited_broker(database_url: str) -> Iterator[RunningBroker]:
    yield from _serve_broker(database_url, api_rate_limit=3)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_key_over_its_limit_gets_429_with_retry_after_and_others_go_on(
    http: httpx.AsyncClient, limited_broker: RunningBroker, services: Services
) -> None:
    busy = await services.tenants.create(unique_slug("busy"), "Busy")
    calm = await services.tenants.create(unique_slug("calm"), "Calm")
    api = ApiClient(http, limited_broker, busy.api_key)
    for _ in range(3):
        assert (await api.get("/api/v1/registrations")).status_code == 200
    refused = await api.get("/api/v1/registrations")
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert (await ApiClient(http, limited_broker, calm.api_key).get("/api/v1/events")).status_code == 200
