"""Limits of the public pages, across broker processes sharing one database: a 429 page with Retry-After that
says what to do, per client address and per tenant, and caps on the registration calls made for anonymous
callers (per minute, and in flight)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from sqlalchemy import select

from broker.launch.models import LaunchState
from broker.registration.attempts import list_attempts
from broker.services import Services
from tests.conftest import LIMIT_STORES, REDIS_URL, RunningBroker, _serve_broker, unique_slug
from tests.e2e.flow import forms_of
from tests.e2e.launching import registered
from tests.emulators import GenericEmulator
from tests.emulators.launch import FormPost, parse_form_post


def from_address(address: str) -> dict[str, str]:
    # The test brokers trust proxy headers from 127.0.0.1, as uvicorn does behind a local reverse proxy.
    return {"X-Forwarded-For": address}


def an_address() -> str:
    return f"203.0.113.{secrets.randbelow(254) + 1}-{secrets.token_hex(2)}"


def assert_too_many(page: httpx.Response) -> None:
    assert page.status_code == 429, page.text
    seconds = int(page.headers["retry-after"])
    assert seconds >= 1
    assert f"Wait {seconds} seconds, then reload this page" in page.text
    assert "text/html" in page.headers["content-type"]


def serve_two(store: str, database_url: str, **limits: object) -> Iterator[tuple[RunningBroker, RunningBroker]]:
    """Two broker processes' worth of services (no memory shared) on one database, with the limits kept in the
    database or in Redis."""
    limits["redis_url"] = REDIS_URL if store == "redis" else ""
    first, second = _serve_broker(database_url, **limits), _serve_broker(database_url, **limits)
    yield next(first), next(second)
    for server in (first, second):
        next(server, None)


@pytest.fixture(params=LIMIT_STORES)
def two_brokers(request: pytest.FixtureRequest, database_url: str) -> Iterator[tuple[RunningBroker, RunningBroker]]:
    limits = {"public_rate_limit": 4, "tenant_rate_limit": 6, "registration_fetch_limit": 3}
    yield from serve_two(request.param, database_url, **limits)


async def test_one_address_is_limited_across_processes_and_others_go_on(
    http: httpx.AsyncClient, two_brokers: tuple[RunningBroker, RunningBroker], services: Services
) -> None:
    tenant = await services.tenants.create(unique_slug("busy"), "Busy", tool_url="https://tool.example/launch")
    address = an_address()
    pages = [
        await http.get(broker.url(f"/t/{tenant.tenant.slug}/lti/login"), headers=from_address(address))
        for broker in two_brokers * 2
    ]
    assert [page.status_code for page in pages] == [400] * 4, "refused as incomplete logins, not limited"
    refused = await http.get(two_brokers[0].url(f"/t/{tenant.tenant.slug}/lti/login"), headers=from_address(address))
    assert_too_many(refused)
    assert "x-frame-options" not in refused.headers, "the LMS shows the page in its frame"
    other = await http.get(two_brokers[1].url(f"/t/{tenant.tenant.slug}/lti/login"), headers=from_address(an_address()))
    assert other.status_code == 400


async def test_one_tenant_is_limited_across_processes_and_others_go_on(
    http: httpx.AsyncClient, two_brokers: tuple[RunningBroker, RunningBroker], services: Services
) -> None:
    busy = await services.tenants.create(unique_slug("busy"), "Busy", tool_url="https://tool.example/launch")
    calm = await services.tenants.create(unique_slug("calm"), "Calm", tool_url="https://tool.example/launch")
    for number in range(6):
        page = await http.post(
            two_brokers[number % 2].url(f"/t/{busy.tenant.slug}/lti/launch"), headers=from_address(an_address())
        )
        assert page.status_code == 400
    assert_too_many(await http.post(two_brokers[0].url(f"/t/{busy.tenant.slug}/lti/launch")))
    assert (await http.post(two_brokers[1].url(f"/t/{calm.tenant.slug}/lti/launch"))).status_code == 400


@pytest.fixture(params=LIMIT_STORES)
def two_launching(request: pytest.FixtureRequest, database_url: str) -> Iterator[tuple[RunningBroker, RunningBroker]]:
    yield from serve_two(request.param, database_url, public_rate_limit=4)


def on(broker: RunningBroker, url: str) -> str:
    """The same URL's path on `broker`, as a load balancer might route the request."""
    return broker.url(urlsplit(url).path)


async def test_launches_count_once_each_across_processes(
    http: httpx.AsyncClient, two_launching: tuple[RunningBroker, RunningBroker], services: Services
) -> None:
    """Logins and id_token posts count once each: a login on its own (it writes nothing else), a post in the write
    that spends its state; the one over the limit is refused, and a refused post's write is rolled back: it leaves
    its state unspent."""
    first, second = two_launching
    headers = from_address(an_address())
    async with registered(http, first, services) as setup:

        async def login(broker: RunningBroker) -> httpx.Response:
            started = setup.platform.login_initiation()
            return await http.post(
                on(broker, started.url), data=started.params, headers=started.browser_headers("POST") | headers
            )

        async def authorized(broker: RunningBroker) -> FormPost:
            page = await login(broker)
            assert page.status_code == 302, page.text
            return parse_form_post((await http.get(page.headers["location"])).text)

        async def post(broker: RunningBroker, form: FormPost) -> httpx.Response:
            return await http.post(on(broker, form.action), data=form.fields, headers=headers)

        async def states() -> list[LaunchState]:
            async with services.database.session() as session:
                tenant_id = setup.tenant.tenant.id
                return list(await session.scalars(select(LaunchState).where(LaunchState.tenant_id == tenant_id)))

        # Logins at the first process (the one the platform knows), their posts at the second.
        relay = await post(second, await authorized(first))
        assert relay.status_code == 200 and "launch_token" in relay.text, relay.text
        waiting = await authorized(first)
        await authorized(first)
        assert_too_many(await post(second, waiting))
        assert_too_many(await login(first))
        stored = await states()
    assert len(stored) == 1, "logins store no state, and the refused post spent none"
    assert stored[0].used_at is not None


async def test_registration_calls_per_minute_are_capped_per_address(
    http: httpx.AsyncClient, two_brokers: tuple[RunningBroker, RunningBroker], services: Services
) -> None:
    tenant = await services.tenants.create(unique_slug("reg"), "Reg", tool_url="https://tool.example/launch")
    address = an_address()
    with GenericEmulator.running() as platform:
        for number in range(3):
            url = platform.initiation_url(two_brokers[number % 2].url(f"/t/{tenant.tenant.slug}/lti/register"))
            assert (await http.get(url, headers=from_address(address))).status_code == 200
        url = platform.initiation_url(two_brokers[0].url(f"/t/{tenant.tenant.slug}/lti/register"))
        refused = await http.get(url, headers=from_address(address))
        assert_too_many(refused)
        assert len(platform.configuration_requests) == 3, "a refused caller makes the broker call nobody"
        assert "started more often than the broker allows" in refused.text
    recorded = await list_attempts(services.database, tenant_id=tenant.tenant.id, limit=10)
    assert len(recorded) == 3, "the refusal rolled back the write that would have opened an attempt"


async def test_registration_pages_refused_before_their_step_count_all_the_same(
    http: httpx.AsyncClient, two_brokers: tuple[RunningBroker, RunningBroker], services: Services
) -> None:
    tenant = await services.tenants.create(unique_slug("early"), "Early", tool_url="https://tool.example/launch")
    address = an_address()
    path = f"/t/{tenant.tenant.slug}/lti/register"
    pages = [await http.get(broker.url(path), headers=from_address(address)) for broker in two_brokers * 2]
    assert [page.status_code for page in pages] == [400] * 4, "refused as incomplete initiations, not limited"
    refused = await http.post(two_brokers[1].url(path), data={"state": "spent"}, headers=from_address(address))
    assert_too_many(refused)
    assert "more requests than the broker takes in a minute" in refused.text


@pytest.fixture(params=LIMIT_STORES)
def one_fetch_at_a_time(
    request: pytest.FixtureRequest, database_url: str
) -> Iterator[tuple[RunningBroker, RunningBroker]]:
    yield from serve_two(request.param, database_url, registration_fetch_concurrency=(1, 2))


async def test_registration_calls_in_flight_are_capped_per_address_and_per_tenant(
    http: httpx.AsyncClient, one_fetch_at_a_time: tuple[RunningBroker, RunningBroker], services: Services
) -> None:
    tenant = await services.tenants.create(unique_slug("slow"), "Slow", tool_url="https://tool.example/launch")
    first, second = one_fetch_at_a_time
    address = an_address()
    with GenericEmulator.running() as platform:
        platform.config_delay = 1.5

        def start(broker: RunningBroker, who: str) -> asyncio.Task[httpx.Response]:
            url = platform.initiation_url(broker.url(f"/t/{tenant.tenant.slug}/lti/register"))
            return asyncio.create_task(http.get(url, headers=from_address(who)))

        async def calls_reached_the_platform(count: int) -> None:
            for _ in range(200):
                if len(platform.configuration_requests) >= count:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("the registration never called the platform")

        slow = start(first, address)
        await calls_reached_the_platform(1)
        same_address = await start(second, address)
        assert_too_many(same_address)
        assert "waiting for their platforms" in same_address.text
        other = start(second, an_address())
        await calls_reached_the_platform(2)
        third_address = await start(first, an_address())
        assert_too_many(third_address), "the tenant's two places are held"
        assert (await slow).status_code == 200 and (await other).status_code == 200
        platform.config_delay = 0.0
        assert (await start(second, address)).status_code == 200, "places come back when the calls end"


async def test_registration_steps_that_fail_give_their_places_back(
    http: httpx.AsyncClient, one_fetch_at_a_time: tuple[RunningBroker, RunningBroker], services: Services
) -> None:
    tenant = await services.tenants.create(unique_slug("fail"), "Fail", tool_url="https://tool.example/launch")
    first, second = one_fetch_at_a_time
    address = an_address()
    with GenericEmulator.running() as platform:
        url = platform.initiation_url(first.url(f"/t/{tenant.tenant.slug}/lti/register"))
        platform.config_response = (500, b"down for maintenance", "text/plain")
        failed = await http.get(url, headers=from_address(address))
        assert failed.status_code not in (200, 429), failed.text
        platform.config_response = None
        review = await http.get(url, headers=from_address(address))
        assert review.status_code == 200, "the failed fetch gave its place back"
        form = forms_of(review.text)[0]
        action = second.url(urlsplit(urljoin(str(review.url), form.action)).path)
        platform.registration_response = (500, b"try later", "text/plain")
        refused = await http.post(action, data=form.fields, headers=from_address(address))
        assert refused.status_code not in (200, 429), refused.text
        again = await http.post(action, data=form.fields, headers=from_address(address))
        assert again.status_code == 409 and "already submitted" in again.text, "the refused post gave its place back"
        platform.registration_response = None
        assert (await http.get(url, headers=from_address(address))).status_code == 200, "so did the spent form"
