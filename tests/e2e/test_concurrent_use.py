"""A handful of people at once on one database: API readers and writers, the background loop delivering
webhooks, and a second process (a CLI listing), together for a bounded while, with not one error.

With SQLite this is the embedded default's everyday load: one writer at a time, so every write must queue
for its turn instead of failing with 'database is locked'.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import httpx
import pytest

from broker import background
from broker.services import Services
from tests.broker.api.support import ApiClient
from tests.broker.test_api import add_registrations
from tests.broker.test_cli import cli_environment
from tests.broker.webhooks.support import hooked_tenant
from tests.conftest import RunningBroker
from tests.emulators.tool import ToolEmulator

READERS = 4
KEYS_PER_READER = 6  # each key's first use of a minute records it: a write inside an API read
WRITERS = 2
CLI_LISTINGS = 1
MAX_ROUNDS = 400  # per reader or writer; the CLI listings end the run well before
RUN_LIMIT_S = 90.0


async def test_readers_writers_the_worker_and_the_cli_together_see_no_error(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    done = asyncio.Event()
    failures: list[str] = []
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            registration_ids = await add_registrations(services, tenant, WRITERS)
            keys = [
                (await services.api_keys.create(tenant.tenant.id, f"reader {number}"))[1]
                for number in range(READERS * KEYS_PER_READER)
            ]

            async def reader(number: int) -> None:
                mine = keys[number * KEYS_PER_READER : (number + 1) * KEYS_PER_READER]
                paths = ["/api/v1/registrations", "/api/v1/events", "/api/v1/webhook-deliveries"]
                for round_number in range(MAX_ROUNDS):
                    if done.is_set():
                        return
                    api = ApiClient(http, broker, mine[round_number % len(mine)])
                    try:
                        response = await api.get(paths[round_number % len(paths)])
                    except httpx.HTTPError as error:
                        failures.append(f"reader {number}: {error!r}")
                        continue
                    if response.status_code != 200:
                        failures.append(f"reader {number}: {response.status_code} {response.text[:200]}")

            async def writer(registration_id: str) -> None:
                api = ApiClient(http, broker, tenant.api_key)
                for round_number in range(MAX_ROUNDS):
                    if done.is_set():
                        return
                    action = "disable" if round_number % 2 == 0 else "enable"
                    try:
                        response = await api.post(f"/api/v1/registrations/{registration_id}/{action}")
                    except httpx.HTTPError as error:
                        failures.append(f"writer: {error!r}")
                        continue
                    if response.status_code != 200:
                        failures.append(f"writer: {response.status_code} {response.text[:200]}")

            async def other_process() -> None:
                try:
                    for _ in range(CLI_LISTINGS):
                        listing = await asyncio.create_subprocess_exec(
                            sys.executable, "-m", "broker.cli", "registrations", "list",
                            "--tenant", tenant.tenant.slug, "--json",
                            env=cli_environment(broker), stdout=asyncio.subprocess.PIPE,
                            stderr=asyncio.subprocess.PIPE,
                        )  # fmt: skip
                        out, err = await asyncio.wait_for(listing.communicate(), RUN_LIMIT_S)
                        if listing.returncode != 0:
                            failures.append(f"CLI listing: exit {listing.returncode}: {err.decode()[-300:]}")
                        elif len(json.loads(out)["items"]) != WRITERS:
                            failures.append(f"CLI listing: {out.decode()[:300]}")
                finally:
                    done.set()

            stop = asyncio.Event()
            worker = asyncio.create_task(background.run(services, stop, poll_interval=0.05))
            try:
                await asyncio.wait_for(
                    asyncio.gather(
                        other_process(), *(reader(n) for n in range(READERS)), *map(writer, registration_ids)
                    ),
                    RUN_LIMIT_S,
                )
            finally:
                stop.set()
                await asyncio.wait_for(worker, RUN_LIMIT_S)
    assert not failures, failures[:5]
    assert tool.received, "the worker delivered while the others ran"
    problems = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert not problems, problems[:5]
