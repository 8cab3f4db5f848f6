"""The background loop of a broker process: webhook deliveries, and signing-key rotations as they fall due.

It runs inside `broker serve` (unless BROKER_RUN_WORKER=0) and alone as `broker webhooks work`. Every pass is
bounded (one batch of deliveries, one rotation check); between passes it waits for work or for `stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from broker.webhooks.worker import DeliveryWorker

if TYPE_CHECKING:
    from broker.services import Services

logger = logging.getLogger("broker.background")

POLL_INTERVAL = 1.0
# Rotations move on a scale of minutes (the JWKS cache time), so checking twice a minute is plenty.
ROTATION_CHECK_INTERVAL = 30.0
SHUTDOWN_MARGIN = 5.0
# After a failed pass (the database is down, say) the loop waits this long, then twice as long after each
# further failure, up to the cap; the first success brings it back to its usual pace.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0


class Backoff:
    """The wait after each failure of one kind of work, and what is said about it: one warning when it starts
    failing, one line when it recovers, nothing in between."""

    def __init__(self, what: str, first: float = FIRST_BACKOFF, cap: float = MAX_BACKOFF) -> None:
        self.what = what
        self.first = first
        self.cap = cap
        self.failures = 0

    def failed(self, error: Exception) -> float:
        """How long to wait before trying again."""
        self.failures += 1
        delay = min(self.cap, self.first * 2 ** (self.failures - 1))
        if self.failures == 1:
            logger.warning(
                "%s failed (%s: %s); trying again in %g s, then less and less often, up to every %g s",
                self.what, type(error).__name__, error, delay, self.cap, exc_info=error,
            )  # fmt: skip
        else:
            logger.debug("%s failed again (%d in a row): %s", self.what, self.failures, error)
        return delay

    def succeeded(self) -> None:
        if self.failures:
            logger.info("%s works again after %d failed passes", self.what, self.failures)
        self.failures = 0


async def run(
    services: Services,
    stop: asyncio.Event,
    *,
    poll_interval: float = POLL_INTERVAL,
    first_backoff: float = FIRST_BACKOFF,
    max_backoff: float = MAX_BACKOFF,
) -> None:
    """Works until `stop` is set; a pass in progress finishes first, so no delivery is left half-recorded."""
    worker = DeliveryWorker(services.database, services.client, services.tenants, services.settings)
    deliveries = Backoff("webhook delivery", first_backoff, max_backoff)
    rotations = Backoff("signing-key rotation", first_backoff, max_backoff)
    next_delivery = next_rotation_check = 0.0
    while not stop.is_set():
        now = time.monotonic()
        if now >= next_delivery:
            next_delivery = now + poll_interval
            try:
                if await worker.run_once():
                    next_delivery = now  # more may be due at once
                deliveries.succeeded()
            except Exception as error:
                next_delivery = time.monotonic() + deliveries.failed(error)
        if now >= next_rotation_check:
            try:
                await services.key_rotation.schedule()
                await services.key_rotation.advance()
                rotations.succeeded()
                next_rotation_check = time.monotonic() + ROTATION_CHECK_INTERVAL
            except Exception as error:
                next_rotation_check = time.monotonic() + rotations.failed(error)
        pause = min(next_delivery, next_rotation_check) - time.monotonic()
        if pause > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)


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
