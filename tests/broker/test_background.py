"""The background loop: its chores, and with the database down one warning each, waits that grow to a cap, and
back by itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from broker import background
from broker.app import create_services
from broker.background import Backoff
from broker.migrate import upgrade
from broker.registration import attempts
from broker.registration.models import AttemptStatus
from tenants.models import SpareSigningKey
from tests.broker.registration.test_attempts import stalled_attempt
from tests.conftest import make_settings
from tests.log_capture import json_lines

ROUNDS = 500
STEP_S = 0.01


def test_waits_double_up_to_the_cap_and_start_over_after_a_success() -> None:
    backoff = Backoff("work", first=1.0, cap=5.0)
    assert [backoff.failed(OSError("down")) for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.succeeded()
    assert backoff.failed(OSError("down")) == 1.0


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(ROUNDS):
        if condition():
            return
        await asyncio.sleep(STEP_S)
    raise AssertionError("the background loop never got there")


async def test_the_loop_warns_once_backs_off_and_recovers_when_the_database_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="broker.background")
    url = f"sqlite:///{tmp_path / 'not-yet' / 'broker.db'}"
    services = create_services(make_settings(url, "http://127.0.0.1:9"))
    stop = asyncio.Event()
    loop = asyncio.create_task(
        background.run(services, stop, poll_interval=STEP_S, first_backoff=STEP_S, max_backoff=4 * STEP_S)
    )

    def lines(level: int) -> list[logging.LogRecord]:
        return [record for record in caplog.records if record.name == "broker.background" and record.levelno == level]

    try:
        await until(lambda: len(lines(logging.DEBUG)) >= 8)
        assert not loop.done()
        warnings = lines(logging.WARNING)
        assert sorted(record.getMessage().split(" failed")[0] for record in warnings) == [
            "housekeeping",
            "registration attempt sweep",
            "signing-key rotation",
            "spare signing keys",
            "webhook delivery",
        ], "one warning for each kind of work, however long it lasts"
        assert not [record for record in caplog.records if record.levelno >= logging.ERROR]

        (tmp_path / "not-yet").mkdir()
        upgrade(url)
        await until(lambda: len(lines(logging.INFO)) == len(warnings))
        assert all("works again" in record.getMessage() for record in lines(logging.INFO))
        assert len(lines(logging.WARNING)) == len(warnings)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)
        await services.close()


async def test_the_loop_marks_an_attempt_cut_off_mid_flight_interrupted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    upgrade(url)
    services = create_services(make_settings(url, "http://127.0.0.1:9"))
    created = await services.tenants.create("sweep", "Sweep Tool")
    attempt_id = await stalled_attempt(
        services, created.tenant.id, AttemptStatus.FETCHING, idle=attempts.STALLED_AFTER + timedelta(minutes=1)
    )
    stop = asyncio.Event()
    with json_lines() as lines:
        loop = asyncio.create_task(background.run(services, stop, poll_interval=STEP_S))
        try:
            for _ in range(ROUNDS):
                found = await attempts.get_attempt(
                    services.database, tenant_id=created.tenant.id, attempt_id=attempt_id
                )
                if found is not None and found.status == AttemptStatus.INTERRUPTED:
                    break
                await asyncio.sleep(STEP_S)
            else:
                raise AssertionError("the background loop never marked the attempt interrupted")
        finally:
            stop.set()
            await asyncio.wait_for(loop, 5)
            await services.close()
    (swept,) = [line for line in lines.all() if line.get("step") == "registration attempt sweep"]
    assert swept["logger"] == "broker.background.steps" and swept["level"] == "INFO"
    assert swept["changed"] == 1 and swept["duration_ms"] >= 0 and "request_id" not in swept


async def test_the_loop_keeps_the_pool_of_spare_signing_keys_full(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    upgrade(url)
    services = create_services(make_settings(url, "http://127.0.0.1:9"))
    services.key_pool.size = 2
    stop = asyncio.Event()
    with json_lines() as lines:
        loop = asyncio.create_task(background.run(services, stop, poll_interval=STEP_S))
        try:
            for _ in range(ROUNDS):
                async with services.database.session() as session:
                    spare = (await session.scalars(select(SpareSigningKey.kid))).all()
                if len(spare) == 2:
                    break
                await asyncio.sleep(STEP_S * 10)
        finally:
            stop.set()
            await asyncio.wait_for(loop, 10)
        # Taken once the loop has stopped, so that it cannot refill the pool (and log it) before the check.
        try:
            taken = await services.key_pool.take()
        finally:
            await services.close()
    assert len(spare) == 2, "the pool was never filled"
    filled = [line for line in lines.all() if line.get("step") == "spare signing keys"]
    assert [line["changed"] for line in filled] == [1, 1], "one line for each key added"
    assert taken.kid in spare and services.key_pool.generated_on_demand == 0
