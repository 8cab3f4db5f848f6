"""One `broker serve` as an operator runs it: on SIGTERM the requests in flight finish and it exits cleanly;
with `--workers 2`, /metrics adds up the counters of both workers, whichever answers the scrape."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from broker.migrate import upgrade
from tests.emulators import GenericEmulator
from tests.fleet.processes import BrokerProcess, broker_environment, free_port

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    upgrade(url)
    yield url


def serve(database: str, logs: Path, *arguments: str, **settings: str) -> BrokerProcess:
    port = free_port()
    environment = broker_environment(database, f"http://127.0.0.1:{port}", **settings)
    return BrokerProcess(["serve", "--port", str(port), *arguments], environment, logs / "serve.log", port)


async def test_sigterm_lets_the_request_in_flight_finish(database: str, tmp_path: Path) -> None:
    process = serve(database, tmp_path).start()
    try:
        async with httpx.AsyncClient(timeout=20) as http:
            with GenericEmulator.running() as platform:
                platform.config_delay = 1.5
                created = await asyncio.to_thread(process.command, "tenants", "create", "slowpoke", "--name", "Slow")
                assert created.returncode == 0, created.stderr
                url = platform.initiation_url(process.url + "/t/slowpoke/lti/register")
                in_flight = asyncio.create_task(http.get(url))
                for _ in range(200):
                    if platform.configuration_requests:
                        break
                    await asyncio.sleep(0.02)
                status = await asyncio.to_thread(process.terminate)
                page = await in_flight
        assert page.status_code == 200 and "Register" in page.text, "the request in flight got its whole answer"
        # uvicorn ends by raising the signal it caught again, once shut down, so the status says SIGTERM.
        assert status in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in process.log.read_text()
    finally:
        process.stop()


async def test_the_workers_counters_add_up_whichever_worker_answers(database: str, tmp_path: Path) -> None:
    process = serve(
        database, tmp_path, "--workers", "2", BROKER_METRICS_TOKEN=TOKEN, BROKER_PUBLIC_RATE_LIMIT="1"
    ).start()
    try:
        for _ in range(10):
            # A connection of its own each time, so that both workers answer some.
            async with httpx.AsyncClient(timeout=20) as http:
                await http.get(process.url + "/t/nobody/lti/login")
        seen = set()
        for _ in range(6):
            async with httpx.AsyncClient(timeout=20) as http:
                answer = await http.get(process.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 200
            seen.add(
                next(
                    sample.value
                    for family in text_string_to_metric_families(answer.text)
                    for sample in family.samples
                    if sample.name == "broker_rate_limit_refusals_total" and sample.labels == {"limit": "public"}
                )
            )
        assert seen == {9.0}, "one request passed the limit; the nine refusals are counted once, in total"
    finally:
        process.stop()
