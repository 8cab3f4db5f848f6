"""Dynamic Registration throughput: the whole flow as an LMS admin's browser drives it, against one uvicorn
worker of the broker, with a fast loopback platform (bench/platform.py), next to the same flow through a bare
Starlette app (bench/floor.py) as the floor.

A flow is: the initiation GET (the broker fetches the platform's configuration and answers the review page),
then the review form posted with its default values (the broker posts the registration to the platform, stores
it and answers the confirmation page). The client holds no cookies. Rounds alternate broker and floor, at 1 and
8 concurrent admins; each figure is the median of the rounds. Broker CPU is read from /proc (every thread, and
the child process that generates signing keys); each round also measures the host's speed (bench/host_speed.py),
by which the target is judged on the scale of the host it was set on. SQLite, then PostgreSQL too when
BENCH_DATABASE_URL=postgresql://… names a database it may fill.

Those flows register one LMS again and again, whose key set exists after the first. A flow from an LMS the
broker has not seen needs a new signing key for it: measured too, once with the pool of spare keys full (filled
here beforehand, as the background loop does; what each key costs to make is printed beside it) and once with
the pool empty, when the flow itself waits for the key.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench import floor, host_speed, platform
from bench.deployment import Deployment, database_urls, deployment
from bench.loadgen import (
    Answer,
    Connection,
    Server,
    broker_servers,
    median,
    percentile,
    post_forms,
    process_cpu_seconds,
    uvicorn_server,
)
from broker.database import Database
from tenants.encryption import SecretBox
from tenants.key_pool import KeyPool

FLOWS = 160
NEW_LMS_FLOWS = 48
CONCURRENCIES = (1, 8)
ROUNDS = 3
WARM_UP = 16
CLOSE_MESSAGE = b"org.imsglobal.lti.close"


@dataclass(frozen=True)
class Result:
    flows: int
    seconds: float
    server_cpu_seconds: float
    latencies: tuple[float, ...]

    @property
    def per_second(self) -> float:
        return self.flows / self.seconds

    @property
    def cpu_ms_per_flow(self) -> float:
        return 1000 * self.server_cpu_seconds / self.flows

    @property
    def p50_ms(self) -> float:
        return 1000 * percentile(self.latencies, 0.50)

    @property
    def p99_ms(self) -> float:
        return 1000 * percentile(self.latencies, 0.99)


@dataclass(frozen=True)
class Pages:
    review: Answer
    registered: Answer


class Admin:
    """An LMS admin's browser: opens the registration URL the LMS gave it and submits the review form."""

    def __init__(self, connection: Connection, slug: str, platform_url: str, new_lms: bool = False) -> None:
        self.connection = connection
        self.path = f"/t/{slug}/lti/register"
        self.platform_url = platform_url
        self.new_lms = new_lms

    async def register(self) -> Pages:
        lms = self.platform_url
        if self.new_lms:
            lms += platform.ANOTHER_PLATFORM_PATH.format(name=secrets.token_hex(8))
        # A fresh one-time token per flow, as the LMS hands out.
        configuration_url = lms + platform.CONFIGURATION_PATH
        query = urlencode({"openid_configuration": configuration_url, "registration_token": secrets.token_hex(16)})
        review = _expect(await self.connection.get(f"{self.path}?{query}"), b'name="state"')
        form = post_forms(review.body, self.path)[0]
        registered = _expect(await self.connection.post_form(form.action, form.fields), CLOSE_MESSAGE)
        return Pages(review, registered)


def _expect(answer: Answer, content: bytes) -> Answer:
    if answer.status != 200 or content not in answer.body:
        raise RuntimeError(f"the flow answered {answer.status}: {answer.body[:400]!r}")
    return answer


async def _run(
    address: str, slug: str, platform_url: str, flows: int, concurrency: int, new_lms: bool
) -> list[float]:
    # Each admin from an address of its own, as admins of different LMSs are: the broker lets one address wait
    # for two platforms at once.
    connections = [await Connection.open(address, source=f"127.0.0.{2 + n}") for n in range(concurrency)]
    latencies: list[float] = []

    async def admin(connection: Connection) -> None:
        browser = Admin(connection, slug, platform_url, new_lms)
        for _ in range(flows // concurrency):
            started = time.perf_counter()
            await browser.register()
            latencies.append(time.perf_counter() - started)

    try:
        await asyncio.gather(*(admin(connection) for connection in connections))
    finally:
        for connection in connections:
            connection.close()
    return latencies


def measure(
    server: Server, slug: str, platform_url: str, flows: int, concurrency: int, new_lms: bool = False
) -> Result:
    cpu_before = process_cpu_seconds(server.pid)
    started = time.perf_counter()
    latencies = asyncio.run(_run(server.address, slug, platform_url, flows, concurrency, new_lms))
    elapsed = time.perf_counter() - started
    return Result(flows, elapsed, process_cpu_seconds(server.pid) - cpu_before, tuple(latencies))


def capture_pages(server: Server, slug: str, platform_url: str, folder: Path) -> None:
    """One flow through the broker, its two pages kept as the floor's templates."""

    async def flow() -> Pages:
        connection = await Connection.open(server.address)
        try:
            return await Admin(connection, slug, platform_url).register()
        finally:
            connection.close()

    pages = asyncio.run(flow())
    path = f"/t/{slug}/lti/register"
    review_state = post_forms(pages.review.body, path)[0].value("state")
    verify_forms = post_forms(pages.registered.body, path)
    verify_state = verify_forms[0].value("state") if verify_forms else ""
    review, registered = pages.review.body.decode(), pages.registered.body.decode()
    floor.write_templates(folder, review, review_state, registered, verify_state)


def run_engine(bench: Deployment) -> tuple[dict[tuple[str, int], list[Result]], host_speed.HostSpeed]:
    """Every round measures each server at each concurrency, in turn, and the host's speed."""
    results: dict[tuple[str, int], list[Result]] = {}
    bare_request_ms: list[float] = []
    with tempfile.TemporaryDirectory() as pages, ExitStack() as servers:
        lms, _ = servers.enter_context(platform.running())
        bare_route = servers.enter_context(host_speed.bare_route())
        measured = broker_servers(servers, bench.env)
        broker = measured["broker"]
        measure(broker, bench.slug, lms.url, WARM_UP, 8)
        capture_pages(broker, bench.slug, lms.url, Path(pages))
        floor_env = {"BENCH_FLOOR_PAGES": pages, "BROKER_BASE_URL": bench.env["BROKER_BASE_URL"]}
        measured["floor"] = servers.enter_context(uvicorn_server("bench.floor:create_app", floor_env, factory=True))
        for name, server in measured.items():
            if name != "broker":
                measure(server, bench.slug, lms.url, WARM_UP, 8)
        host_speed.bare_request_ms(bare_route)  # warm-up
        for _ in range(ROUNDS):
            bare_request_ms.append(host_speed.bare_request_ms(bare_route))
            for concurrency in CONCURRENCIES:
                for name, server in measured.items():
                    result = measure(server, bench.slug, lms.url, FLOWS, concurrency)
                    results.setdefault((name, concurrency), []).append(result)
                for name, spare_keys in (("new LMS, spare keys", True), ("new LMS, no spare key", False)):
                    generation = fill_key_pool(bench, NEW_LMS_FLOWS if spare_keys else 0)
                    if generation is not None:
                        results.setdefault(("key generation", concurrency), []).append(generation)
                    result = measure(broker, bench.slug, lms.url, NEW_LMS_FLOWS, concurrency, new_lms=True)
                    results.setdefault((f"broker, {name}", concurrency), []).append(result)
    return results, host_speed.HostSpeed(bare_request_ms, host_speed.rsa_sign_ms())


def fill_key_pool(bench: Deployment, count: int) -> Result | None:
    """Fills the pool of spare keys with `count` keys as the background loop does, or empties it (0); for a
    fill, what generating the keys cost (CPU of this process and of its key-generating child)."""

    async def fill() -> Result | None:
        database = Database(bench.database_url)
        pool = KeyPool(database, SecretBox(bench.env["BROKER_SECRET_KEY"]), size=count)
        try:
            while count == 0 and await pool.spare() > 0:
                await pool.take()
            cpu_before, started = process_cpu_seconds(os.getpid()), time.perf_counter()
            added = await pool.refill()
            elapsed = time.perf_counter() - started
            cpu = process_cpu_seconds(os.getpid()) - cpu_before  # before close(): the child still counts
            return Result(added, elapsed, cpu, (elapsed / added,)) if added else None
        finally:
            await pool.close()
            await database.dispose()

    return asyncio.run(fill())


def report(engine: str, results: dict[tuple[str, int], list[Result]], speed: host_speed.HostSpeed) -> None:
    print(f"Dynamic Registration (initiation GET, review page, form POST, platform POST, store, confirmation page),"
          f"\nmedian of {ROUNDS} alternating rounds of {FLOWS} flows, one uvicorn worker, {engine}:")
    print(f"  {'':<44}{'flows/s':>9}{'CPU ms/flow':>13}{'p50 ms':>9}{'p99 ms':>9}")
    figures: dict[tuple[str, int], dict[str, float]] = {}
    names = list(dict.fromkeys(name for name, _ in results))
    for concurrency in CONCURRENCIES:
        for name in names:
            rounds = results[(name, concurrency)]
            figure = {
                "per_second": median([r.per_second for r in rounds]),
                "cpu": median([r.cpu_ms_per_flow for r in rounds]),
                "p50": median([r.p50_ms for r in rounds]),
                "p99": median([r.p99_ms for r in rounds]),
            }
            figures[(name, concurrency)] = figure
            label = f"{name}, {concurrency} admin{'s' if concurrency > 1 else ''}"
            print(f"  {label:<44}{figure['per_second']:9.0f}{figure['cpu']:13.2f}{figure['p50']:9.1f}"
                  f"{figure['p99']:9.1f}")
    for concurrency in CONCURRENCIES:
        bare = figures[("floor", concurrency)]
        for name in names:
            if name not in ("floor", "key generation"):
                broker = figures[(name, concurrency)]
                print(f"  {name}, {concurrency} admin(s): CPU per flow {broker['cpu'] / bare['cpu']:.2f}x the floor's, "
                      f"flows/s {broker['per_second'] / bare['per_second']:.2f}x the floor's")
    print("  key generation: each key for a new LMS, made ahead by the background loop (key/s, CPU ms/key); a new")
    print("  LMS's flow with a spare key costs its line above plus one key; with no spare key the flow makes it")
    print(f"  {speed.describe()}")
    for concurrency in CONCURRENCIES:
        for name in names:
            if name.startswith("broker"):
                cpu = figures[(name, concurrency)]["cpu"]
                print(f"  {name}, {concurrency} admin(s): {speed.on_reference(cpu):.2f} ms of CPU per flow on the "
                      "targets' host")
    print("  target: broker CPU per flow <= 3 ms on the targets' host")


def main() -> None:
    for database_url in database_urls():
        with deployment(database_url) as bench:
            results, speed = run_engine(bench)
        report(bench.engine, results, speed)
        print()


if __name__ == "__main__":
    main()
