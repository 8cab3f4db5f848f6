"""Rate limits: a 429 problem with Retry-After once a key has used its requests, or once an address has failed
to authenticate as often as a key may call."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from broker.services import Services
from tests.broker.api.support import ApiClient, assert_problem
from tests.conftest import RunningBroker, _serve_broker, unique_slug


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
