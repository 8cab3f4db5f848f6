"""Webhook delivery: how soon an event reaches the tool after it commits, and how fast one worker drains a
backlog, against a fast receiver on loopback (answers 204 at once, records when each event arrived).

Latency: events committed one at a time, a little apart, while the worker waits. On SQLite the worker runs in
the process that commits (as `broker serve` delivers what its requests commit: woken in the process); on
PostgreSQL it is `broker webhooks work` in a process of its own (woken by LISTEN/NOTIFY). Drain: a backlog
committed with no worker running, then one worker started; events a second from the first delivery to the
last. Targets: commit → receipt p99 under 250 ms; at least 1,000 events a second.
SQLite, then PostgreSQL too when BENCH_DATABASE_URL=postgresql://… names a database it may fill.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.deployment import BROKER, Deployment, database_urls, deployment
from bench.loadgen import percentile
from broker import background
from broker.app import create_services
from broker.services import Services
from broker.settings import Settings
from broker.webhooks.outbox import record_event
from tenants.models import Tenant

LATENCY_EVENTS = 200
LATENCY_SPACING_S = 0.02
BACKLOG = 2000
DEADLINE_S = 120.0


class Receiver:
    """A tool's webhook endpoint that only notes when each event arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}

    async def receive(self, request: Request) -> Response:
        await request.body()
        self.arrivals.setdefault(request.headers["webhook-id"], time.time())
        return Response(status_code=204)


@contextmanager
def serving(receiver: Receiver) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    app = Starlette(routes=[Route("/hook", receiver.receive, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        server.should_exit = True
        thread.join(10)


async def commit_events(services: Services, slug: str, count: int) -> dict[str, float]:
    """`count` events in one transaction; when each committed."""
    async with services.database.transaction() as session:
        tenant = await services.tenants.get_by_slug(slug)
        assert tenant is not None
        tenant = await session.get(Tenant, tenant.id)
        assert tenant is not None
        events = [record_event(session, tenant, "bench.event", {"number": number}) for number in range(count)]
    committed = time.time()
    return {event.id: committed for event in events}


@asynccontextmanager
async def worker(services: Services, bench: Deployment) -> AsyncIterator[None]:
    """One delivering worker: in this process on SQLite, `broker webhooks work` on PostgreSQL."""
    if bench.engine == "sqlite":
        stop = asyncio.Event()
        task = asyncio.create_task(background.run(services, stop))
        try:
            yield
        finally:
            stop.set()
            await task
        return
    process = await asyncio.create_subprocess_exec(
        BROKER, "webhooks", "work", env={**os.environ, **bench.env}, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await asyncio.sleep(3)  # its imports and first LISTEN
        yield
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def until_arrived(receiver: Receiver, ids: set[str]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not ids <= receiver.arrivals.keys():
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(ids & receiver.arrivals.keys())} of {len(ids)} events arrived")
        await asyncio.sleep(0.005)


async def measure(bench: Deployment) -> None:
    receiver = Receiver()
    with serving(receiver) as hook_url:
        settings = replace(Settings.from_environ(bench.env), run_worker=False)
        services = create_services(settings)
        try:
            tenant = await services.tenants.get_by_slug(bench.slug)
            assert tenant is not None
            await services.tenants.set_webhook_url(tenant.id, hook_url)
            async with worker(services, bench):
                committed: dict[str, float] = {}
                for _ in range(LATENCY_EVENTS):
                    committed |= await commit_events(services, bench.slug, 1)
                    await asyncio.sleep(LATENCY_SPACING_S)
                await until_arrived(receiver, set(committed))
            delays = [(receiver.arrivals[key] - at) * 1000 for key, at in committed.items()]
            print(
                f"  {bench.engine:10} commit → receipt: p50 {percentile(delays, 0.5):6.1f} ms  "
                f"p99 {percentile(delays, 0.99):6.1f} ms  max {max(delays):6.1f} ms  ({LATENCY_EVENTS} events)"
            )
            backlog = await commit_events(services, bench.slug, BACKLOG)
            async with worker(services, bench):
                await until_arrived(receiver, set(backlog))
            arrivals = sorted(receiver.arrivals[key] for key in backlog)
            rate = (BACKLOG - 1) / (arrivals[-1] - arrivals[0])
            print(f"  {bench.engine:10} drain of {BACKLOG}: {rate:7.0f} events/s (one worker)")
        finally:
            await services.close()


def main() -> None:
    print("Webhooks: commit → receipt latency and backlog drain, one worker, fast loopback receiver")
    for database_url in database_urls():
        with deployment(database_url) as bench:
            asyncio.run(measure(bench))
