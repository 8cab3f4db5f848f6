"""The background loop of a broker process: webhook deliveries, and signing-key rotations as they fall due.

It runs inside `broker serve` (unless BROKER_RUN_WORKER=0) and alone as `broker webhooks work`. Every pass is
bounded (one batch of deliveries, one rotation check); between passes it waits for work or for `stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING

from broker.webhooks.worker import DeliveryWorker

if TYPE_CHECKING:
    from broker.services import Services

logger = logging.getLogger("broker.background")

POLL_INTERVAL = 1.0
# Rotations move on a scale of minutes (the JWKS cache time), so checking twice a minute is plenty.
ROTATION_CHECK_INTERVAL = 30.0
SHUTDOWN_MARGIN = 5.0


async def run(services: Services, stop: asyncio.Event, *, poll_interval: float = POLL_INTERVAL) -> None:
    """Works until `stop` is set; a pass in progress finishes first, so no delivery is left half-recorded."""
    worker = DeliveryWorker(services.database, services.client, services.tenants, services.settings)
    next_rotation_check = 0.0
    while not stop.is_set():
        busy = await _guarded(worker.run_once())
        if time.monotonic() >= next_rotation_check:
            await _guarded(services.key_rotation.schedule())
            await _guarded(services.key_rotation.advance())
            next_rotation_check = time.monotonic() + ROTATION_CHECK_INTERVAL
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_interval)


async def _guarded(work: Awaitable[int | None]) -> int:
    # A database outage must not end the loop: it logs and tries again on the next pass.
    try:
        return await work or 0
    except Exception:
        logger.exception("background work failed; retrying on the next pass")
        return 0


@contextlib.asynccontextmanager
async def running(services: Services) -> AsyncIterator[None]:
    """The background loop beside whatever runs inside the block (the HTTP server), if the settings want it."""
    if not services.settings.run_worker:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(run(services, stop), name="broker background loop")
    try:
        yield
    finally:
        stop.set()
        try:
            # A pass in progress ends within one outbound timeout; past that it is cancelled, and any delivery
            # it held goes out again when its lease expires.
            await asyncio.wait_for(task, services.settings.outbound_timeout + SHUTDOWN_MARGIN)
        except TimeoutError:
            logger.warning("the background loop did not stop in time and was cancelled")
