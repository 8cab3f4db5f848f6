"""Rate limits: a 429 problem with Retry-After once a key has used its requests, or once an address has failed
to authenticate as often as a key may call."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from broker.rate_limit import MemoryBuckets, RateLimiter
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
    buckets = MemoryBuckets(60, clock=clock)
    assert [buckets.take("a") for _ in range(60)] == [0.0] * 60
    assert buckets.wait("a") == pytest.approx(1.0)
    assert buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") == 0.0, "each key has its own bucket"
    clock.now += 2
    assert buckets.wait("a") == 0.0, "waiting spends nothing"
    assert buckets.take("a") == 0.0 and buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_failures_limit_an_address_but_not_the_keys_that_authenticated_from_it() -> None:
    limiter = RateLimiter(3, clock=Clock())
    limiter.succeeded("good")
    for _ in range(3):
        assert limiter.wait_before_lookup("made-up", "10.0.0.1") == 0.0
        limiter.failed("10.0.0.1")
    assert limiter.wait_before_lookup("another made-up", "10.0.0.1") > 0
    assert limiter.wait_before_lookup("good", "10.0.0.1") == 0.0
    assert limiter.wait_before_lookup("made-up too", "10.0.0.2") == 0.0, "each address has its own bucket"


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


@pytest.mark.asyncio(loop_scope="session")
async def test_made_up_keys_from_one_address_are_limited_and_real_keys_go_on(
    http: httpx.AsyncClient, limited_broker: RunningBroker, services: Services
) -> None:
    real = await services.tenants.create(unique_slug("real"), "Real")
    assert (await ApiClient(http, limited_broker, real.api_key).get("/api/v1/events")).status_code == 200
    for number in range(3):
        assert_problem(await ApiClient(http, limited_broker, f"lbk_made-up-{number}").get("/api/v1/events"), 401)
    refused = await ApiClient(http, limited_broker, "lbk_made-up-4").get("/api/v1/events")
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert (await ApiClient(http, limited_broker, real.api_key).get("/api/v1/events")).status_code == 200
