"""A fleet: three `broker serve` processes and one `broker webhooks work` on one PostgreSQL, sharing nothing
else, as behind a load balancer (one public base URL; the tests pick which process each request reaches).

Registrations begun on one process complete on another; a launch's login and its launch reach different
processes, and its state is spent once across them; webhooks go out once per attempt, with the same
`webhook-id` on every retry, while the delivering processes are killed (SIGKILL) mid-delivery and restarted, and
nothing is lost; a rotated key is published by every process within the key-cache time; an API key's limit holds
across the processes.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from broker.app import create_services
from broker.services import Services
from broker.webhooks.models import AttemptOutcome, DeliveryStatus, WebhookDelivery, WebhookDeliveryAttempt
from broker.webhooks.outbox import record_event
from tenants.models import Tenant
from tests.conftest import POSTGRES_URL, make_settings, migrated_postgres_database, unique_slug
from tests.e2e.flow import forms_of, posts_close_message
from tests.emulators import GenericEmulator
from tests.emulators.launch import parse_form_post
from tests.emulators.tool import ToolEmulator
from tests.fleet.processes import BrokerProcess, broker_environment

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="a fleet shares PostgreSQL: set BROKER_TEST_DATABASE_URL")

API_RATE_LIMIT = 30
# Every wait below is bounded: a step that does not happen in this many seconds fails the test.
DEADLINE_S = 60.0
# The key-cache time of a broker process (tenants/keys.py): a new key is published everywhere within it.
KEY_CACHE_S = 30.0


@dataclass
class Fleet:
    servers: list[BrokerProcess]
    worker: BrokerProcess
    services: Services  # this test process's own view of the database, for arranging and checking

    def url(self, number: int, path: str) -> str:
        return self.servers[number].url + path

    @property
    def base_url(self) -> str:
        return self.servers[0].url


def on(process: BrokerProcess, url: str) -> str:
    """The same URL, reaching `process` (as a load balancer might route it)."""
    parts = urlsplit(url)
    return urlunsplit(("http", f"127.0.0.1:{process.port}", parts.path, parts.query, ""))


@pytest.fixture(scope="module")
def fleet_database() -> Iterator[str]:
    yield from migrated_postgres_database()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fleet(fleet_database: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Fleet]:
    logs = tmp_path_factory.mktemp("fleet-logs")
    servers = [BrokerProcess.serve({}, logs, f"serve-{number}") for number in range(3)]
    environment = broker_environment(
        fleet_database,
        servers[0].url,
        # Short, so that leases of killed processes (six outbound timeouts) expire within the test; retries
        # soon and often, so that a post that timed out on a loaded host is not given up.
        BROKER_OUTBOUND_TIMEOUT="2",
        BROKER_WEBHOOK_RETRY_DELAYS=",".join(["1"] * 10),
        BROKER_API_RATE_LIMIT=str(API_RATE_LIMIT),
        BROKER_RUN_WORKER="0",
    )
    for number, server in enumerate(servers):
        server.environment = environment | ({"BROKER_RUN_WORKER": "1"} if number == 2 else {})
    worker = BrokerProcess.worker(environment, logs, "worker")
    services = create_services(make_settings(fleet_database, servers[0].url))
    try:
        for process in [*servers, worker]:
            process.start()
        yield Fleet(servers, worker, services)
    finally:
        for process in [*servers, worker]:
            process.stop()
        await services.close()


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A browser's client with room for a loaded host: a process's first key generation starts a helper
    process, which imports the broker first."""
    async with httpx.AsyncClient(timeout=90, headers={"User-Agent": "lti-broker-tests"}) as client:
        yield client


async def until(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if await condition() if asyncio.iscoroutinefunction(condition) else condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {DEADLINE_S} s")


async def register_across(http: httpx.AsyncClient, fleet: Fleet, slug: str, platform: GenericEmulator) -> str:
    """The registration started at process 0, its review form posted to process 1; the confirmation page."""
    first = await http.get(platform.initiation_url(fleet.url(0, f"/t/{slug}/lti/register")))
    assert first.status_code == 200, first.text
    (form,) = forms_of(first.text)
    done = await http.post(on(fleet.servers[1], urljoin(str(first.url), form.action)), data=form.fields)
    assert done.status_code == 200, done.text
    assert posts_close_message(done.text)
    return done.text


async def test_a_registration_begun_on_one_process_completes_on_another_and_launches_across_two(
    http: httpx.AsyncClient, fleet: Fleet
) -> None:
    with ToolEmulator.running() as tool, GenericEmulator.running(create_deployment=True) as platform:
        created = await fleet.services.tenants.create(unique_slug("fleet"), "Fleet Quiz", tool_url=tool.launch_url)
        slug = created.tenant.slug
        await register_across(http, fleet, slug, platform)
        listing = await http.get(
            fleet.url(2, "/api/v1/registrations"), headers={"Authorization": f"Bearer {created.api_key}"}
        )
        (item,) = listing.json()["items"]
        assert item["issuer"] == platform.issuer

        started = platform.login_initiation()
        login = await http.post(
            on(fleet.servers[1], started.url), data=started.params, headers=started.browser_headers("POST")
        )
        assert login.status_code == 302, login.text
        form_post = parse_form_post((await http.get(login.headers["location"])).text)
        relay = await http.post(on(fleet.servers[2], form_post.action), data=form_post.fields)
        assert relay.status_code == 200, relay.text
        tool.launch_issuer = fleet.base_url + f"/t/{slug}"
        relayed = parse_form_post(relay.text)
        assert (await http.post(relayed.action, data=relayed.fields)).status_code == 200
        (claims,) = tool.launches
        assert claims["registration_id"] == item["id"]

        # The state is single-use across processes: posted again to each process, refused everywhere; a fresh
        # one posted to two processes at once launches once.
        for process in fleet.servers:
            again = await http.post(on(process, form_post.action), data=form_post.fields)
            assert again.status_code == 400 and "already used" in again.text, again.text
        started = platform.login_initiation()
        login = await http.post(
            on(fleet.servers[0], started.url), data=started.params, headers=started.browser_headers("POST")
        )
        form_post = parse_form_post((await http.get(login.headers["location"])).text)
        both = await asyncio.gather(
            *(http.post(on(process, form_post.action), data=form_post.fields) for process in fleet.servers[1:])
        )
        assert sorted(answer.status_code for answer in both) == [200, 400], [answer.text for answer in both]


async def test_webhooks_go_out_once_per_attempt_while_delivering_processes_are_killed(
    http: httpx.AsyncClient, fleet: Fleet
) -> None:
    # Enough events, and a receiver slow enough, that posts are under way when the processes die: each worker
    # posts up to 32 of a tenant's deliveries at once.
    events = 200
    with ToolEmulator.running(delay=1.0) as tool:
        created = await fleet.services.tenants.create(unique_slug("hooks"), "Hooks", webhook_url=tool.url)
        tool.secret = created.webhook_secret
        async with fleet.services.database.transaction() as session:
            tenant = await session.get(Tenant, created.tenant.id)
            assert tenant is not None
            event_ids = {
                await record_event(session, tenant, "test.event", {"number": number}) for number in range(events)
            }

        await until(lambda: len(tool.received) >= 3, "the first deliveries")
        # Both delivering processes die with posts in flight; they come back, and the leases they held expire.
        fleet.worker.kill()
        fleet.servers[2].kill()
        fleet.worker.start()
        fleet.servers[2].start()

        async def all_delivered() -> bool:
            async with fleet.services.database.session() as session:
                statuses = await session.scalars(
                    select(WebhookDelivery.status).where(WebhookDelivery.tenant_id == created.tenant.id)
                )
                return all(status == DeliveryStatus.SUCCEEDED for status in statuses)

        await until(all_delivered, "every delivery")

    receipts = Counter(tool.ids())
    assert set(receipts) == event_ids, "nothing lost, nothing made up"
    async with fleet.services.database.session() as session:
        attempts = (
            await session.execute(
                select(WebhookDelivery.event_id, WebhookDeliveryAttempt.number, WebhookDeliveryAttempt.outcome)
                .join(WebhookDeliveryAttempt, WebhookDeliveryAttempt.delivery_id == WebhookDelivery.id)
                .where(WebhookDelivery.tenant_id == created.tenant.id)
            )
        ).all()
    per_event = Counter(event_id for event_id, _, _ in attempts)
    for event_id in event_ids:
        numbers = sorted(number for other, number, _ in attempts if other == event_id)
        assert numbers == list(range(1, len(numbers) + 1)), "each attempt recorded once"
        outcomes = [outcome for other, _, outcome in attempts if other == event_id]
        assert outcomes.count(AttemptOutcome.SUCCEEDED) == 1
        assert receipts[event_id] <= per_event[event_id], "the receiver never got more posts than there were attempts"
    retried = [event_id for event_id, count in receipts.items() if count > 1]
    assert retried, "posts cut off by the kill went out again, with the same webhook-id"


async def test_a_rotated_key_is_published_by_every_process_within_the_key_cache_time(
    http: httpx.AsyncClient, fleet: Fleet
) -> None:
    created = await fleet.services.tenants.create(unique_slug("keys"), "Keys")
    slug = created.tenant.slug

    async def kids(number: int) -> set[str]:
        answer = await http.get(fleet.url(number, f"/t/{slug}/.well-known/jwks.json"))
        return {key["kid"] for key in answer.json()["keys"]}

    before = [await kids(number) for number in range(3)]
    rotated = await http.post(
        fleet.url(0, "/api/v1/keys/rotate"), headers={"Authorization": f"Bearer {created.api_key}"}
    )
    assert rotated.status_code in (200, 201, 202), rotated.text
    started = time.monotonic()

    async def everywhere() -> bool:
        now = [await kids(number) for number in range(3)]
        return all(len(now[number]) > len(before[number]) for number in range(3))

    await until(everywhere, "the new key in every process's key set")
    assert time.monotonic() - started <= KEY_CACHE_S + 5


async def test_an_api_key_limit_holds_across_processes(http: httpx.AsyncClient, fleet: Fleet) -> None:
    created = await fleet.services.tenants.create(unique_slug("limit"), "Limit")
    headers = {"Authorization": f"Bearer {created.api_key}"}
    started = time.monotonic()
    statuses = [
        (await http.get(fleet.url(number % 3, "/api/v1/registrations"), headers=headers)).status_code
        for number in range(3 * API_RATE_LIMIT)
    ]
    # Limits kept in each process would let all of them through; one shared bucket lets the burst through, and
    # a token more for each interval the calls took.
    refilled = (time.monotonic() - started) / (60 / API_RATE_LIMIT)
    assert API_RATE_LIMIT <= statuses.count(200) <= API_RATE_LIMIT + refilled + 1, statuses
    assert set(statuses) == {200, 429}
