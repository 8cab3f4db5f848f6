"""Webhook delivery: how soon an event reaches the tool after it commits, and how fast one worker drains a
backlog, against a fast receiver on loopback in a process of its own (answers at once, records when each event
arrived).

Latency: events committed one at a time, a little apart, while the worker waits. On SQLite the worker runs in
the process that commits (as `broker serve` delivers what its requests commit: woken in the process); on
PostgreSQL it is `broker webhooks work` in a process of its own (woken by LISTEN/NOTIFY). Drain: one
`broker webhooks work` started and idle, then a backlog committed in one transaction; events a second from the
first delivery to the last, the worker's CPU per event (read from /proc, from before the backlog to its last
arrival), and beside it the in-run baseline: how many posts a second the same receiver takes from a nearly free
client. With BENCH_BEFORE, the drain alternates rounds of this checkout's worker and that checkout's, on the same
database and receiver. Targets: commit → receipt p99 under 250 ms; at least 1,000 events a second.
SQLite, then PostgreSQL too when BENCH_DATABASE_URL=postgresql://… names a database it may fill.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx

from bench.deployment import BROKER, Deployment, database_urls, deployment
from bench.loadgen import Connection, Server, before_source, percentile, process_cpu_seconds, uvicorn_server
from broker import background
from broker.app import create_services
from broker.services import Services
from broker.settings import Settings
from broker.webhooks.outbox import record_event
from broker.webhooks.queries import outbox_depth
from broker.webhooks.worker import PER_TENANT
from tenants.models import Tenant

LATENCY_EVENTS = 200
LATENCY_SPACING_S = 0.02
BACKLOG = 2000
DRAIN_ROUNDS = 2
DEADLINE_S = 120.0


class Receiver:
    """The receiver in its own process (bench/webhook_receiver.py), read over HTTP."""

    def __init__(self, server: Server) -> None:
        self.url = server.url + "/hook"
        self.address = server.address
        self._client = httpx.AsyncClient(base_url=server.url)

    async def arrived(self) -> int:
        return int((await self._client.get("/arrived")).text)

    async def arrivals(self) -> dict[str, float]:
        answer: dict[str, float] = (await self._client.get("/arrivals")).json()
        return answer

    async def close(self) -> None:
        await self._client.aclose()


@asynccontextmanager
async def serving() -> AsyncIterator[Receiver]:
    with uvicorn_server("bench.webhook_receiver:app", {}) as server:
        receiver = Receiver(server)
        try:
            yield receiver
        finally:
            await receiver.close()


async def receiver_capacity(receiver: Receiver, count: int) -> float:
    """Posts a second the receiver takes from a nearly free client (raw keep-alive connections, as many at once as
    the worker posts to one tenant): the ceiling for any worker on this machine now."""
    body = json.dumps({"type": "bench.event", "timestamp": "2026-01-01T00:00:00Z", "data": {"number": 0}}).encode()
    connections = [await Connection.open(receiver.address) for _ in range(PER_TENANT)]
    left = iter(range(count))

    async def post(connection: Connection) -> None:
        for _ in left:
            await connection.post_form("/hook", body)

    started = time.perf_counter()
    await asyncio.gather(*(post(connection) for connection in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return count / elapsed


async def commit_events(services: Services, slug: str, count: int) -> dict[str, float]:
    """`count` events in one transaction; when each committed."""
    async with services.database.transaction() as session:
        tenant = await services.tenants.get_by_slug(slug)
        assert tenant is not None
        tenant = await session.get(Tenant, tenant.id)
        assert tenant is not None
        events = [await record_event(session, tenant, "bench.event", {"number": number}) for number in range(count)]
    committed = time.time()
    return dict.fromkeys(events, committed)


@asynccontextmanager
async def worker(
    services: Services, bench: Deployment, *, apart: bool, source: str = ""
) -> AsyncIterator[Callable[[], float]]:
    """One delivering worker: `broker webhooks work` when `apart` (from the checkout at `source` when given, with
    its own virtualenv), else the background loop in this process. Yields what tells the CPU seconds it has used
    since it was ready."""
    if not apart:
        stop = asyncio.Event()
        task = asyncio.create_task(background.run(services, stop))
        started = time.process_time()
        try:
            yield lambda: time.process_time() - started
        finally:
            stop.set()
            await task
        return
    command, env, folder = BROKER, {**os.environ, **bench.env}, None
    if source:
        own = Path(source) / ".venv" / "bin" / "broker"
        command, env, folder = (str(own) if own.exists() else BROKER), {**env, "PYTHONPATH": source}, source
    process = await asyncio.create_subprocess_exec(
        command, "webhooks", "work", env=env, cwd=folder, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        ready = await idle_cpu(process.pid)
        yield lambda: process_cpu_seconds(process.pid) - ready
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def idle_cpu(pid: int) -> float:
    """The process's CPU seconds once it is idle: its imports done (seconds on a busy machine), its first LISTEN
    made, nothing left to deliver."""
    await asyncio.sleep(1)
    used = process_cpu_seconds(pid)
    for _ in range(60):
        await asyncio.sleep(0.5)
        used, before = process_cpu_seconds(pid), used
        if used - before < 0.02:
            break
    return used


async def until_arrived(receiver: Receiver, count: int) -> dict[str, float]:
    """Waits until `count` events have arrived in all; when each arrived."""
    deadline = time.monotonic() + DEADLINE_S
    while (arrived := await receiver.arrived()) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {arrived} of {count} events arrived")
        await asyncio.sleep(0.1)  # the arrival times are the receiver's: asking less often costs the worker less
    return await receiver.arrivals()


async def until_recorded(services: Services) -> None:
    """Waits until no delivery is pending: every outcome is recorded."""
    deadline = time.monotonic() + DEADLINE_S
    while (pending := (await outbox_depth(services.database)).pending) and time.monotonic() < deadline:  # noqa: ASYNC110 - another process's work
        await asyncio.sleep(0.05)
    if pending:
        raise SystemExit(f"{pending} deliveries still pending")


async def measure(bench: Deployment) -> None:
    async with serving() as receiver:
        settings = replace(Settings.from_environ(bench.env), run_worker=False)
        services = create_services(settings)
        try:
            tenant = await services.tenants.get_by_slug(bench.slug)
            assert tenant is not None
            await services.tenants.set_webhook_url(tenant.id, receiver.url)
            # Full beforehand, so the worker's CPU is deliveries only, not the spare signing keys it would make.
            await services.key_pool.refill()
            # SQLite wakes only the worker of the process that committed; PostgreSQL wakes every one.
            async with worker(services, bench, apart=bench.engine != "sqlite"):
                committed: dict[str, float] = {}
                for _ in range(LATENCY_EVENTS):
                    committed |= await commit_events(services, bench.slug, 1)
                    await asyncio.sleep(LATENCY_SPACING_S)
                arrivals = await until_arrived(receiver, len(committed))
            delays = [(arrivals[key] - at) * 1000 for key, at in committed.items()]
            print(
                f"  {bench.engine:10} commit → receipt: p50 {percentile(delays, 0.5):6.1f} ms  "
                f"p99 {percentile(delays, 0.99):6.1f} ms  max {max(delays):6.1f} ms  ({LATENCY_EVENTS} events)"
            )
            arrived = len(committed)
            capacity = await receiver_capacity(receiver, BACKLOG)
            checkouts = {"this": "", **({"before": before_source()} if before_source() else {})}
            for _ in range(DRAIN_ROUNDS):
                for name, source in checkouts.items():
                    rate, cpu = await drain(services, bench, receiver, arrived, source)
                    arrived += BACKLOG
                    print(
                        f"  {bench.engine:10} drain of {BACKLOG}, {name:6}: {rate:5.0f} events/s (one worker; "
                        f"{cpu / BACKLOG * 1000:.2f} ms of its CPU an event)"
                    )
            print(f"  {bench.engine:10} the receiver alone takes {capacity:.0f} posts/s")
        finally:
            await services.close()


async def drain(
    services: Services, bench: Deployment, receiver: Receiver, arrived: int, source: str
) -> tuple[float, float]:
    """A backlog committed at once before an idle `broker webhooks work` (from `source` when given); events a
    second from its first arrival to its last, and the worker's CPU seconds until every outcome is recorded."""
    async with worker(services, bench, apart=True, source=source) as cpu_seconds:
        backlog = await commit_events(services, bench.slug, BACKLOG)
        arrivals = await until_arrived(receiver, arrived + BACKLOG)
        await until_recorded(services)
        cpu = cpu_seconds()
    times = sorted(arrivals[key] for key in backlog)
    return (BACKLOG - 1) / (times[-1] - times[0]), cpu


def main() -> None:
    print("Webhooks: commit → receipt latency and backlog drain, one worker, fast loopback receiver")
    for database_url in database_urls():
        with deployment(database_url) as bench:
            asyncio.run(measure(bench))
