"""The background loop of a broker process: webhook deliveries, signing-key rotations as they fall due, the
pool of spare signing keys kept full, and housekeeping (spent limit counters, old abandoned registration attempts,
attempts cut off mid-flight marked interrupted).

It runs inside `broker serve` (unless BROKER_RUN_WORKER=0) and alone as `broker webhooks work`. Every pass is
bounded (one batch of deliveries, one rotation check); between passes it waits for work or for `stop`. Each pass
of a chore leaves one line (`broker.background.steps`, with the step's name in its context): at INFO when it
changed something it counts, at DEBUG otherwise. A key activated in a rotation and each delivery attempt leave
lines of their own, with their tenant in context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from broker import log_context
from broker.database import utcnow
from broker.health import Heartbeat
from broker.logs import fields
from broker.registration import attempts
from broker.webhooks.wakeup import Wakeup, listen
from broker.webhooks.worker import DeliveryWorker

if TYPE_CHECKING:
    from broker.services import Services

logger = logging.getLogger("broker.background")
steps = logging.getLogger("broker.background.steps")

POLL_INTERVAL = 1.0
# Rotations move on a scale of minutes (the JWKS cache time), so checking twice a minute is plenty; a full pool of
# spare keys is looked at as often.
ROTATION_CHECK_INTERVAL = 30.0
# Spent limit counters and old abandoned attempts only take room; every ten minutes is plenty.
HOUSEKEEPING_INTERVAL = 600.0
# An attempt counts as interrupted after minutes without progress; a sweep a minute is timely enough.
ATTEMPT_SWEEP_INTERVAL = 60.0
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
        delay = min(self.cap, self.first * 2.0 ** (self.failures - 1))
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


@dataclass
class _Chore:
    """Work done every `interval` seconds (sooner after a failure, as its backoff says)."""

    backoff: Backoff
    interval: float
    work: Callable[[], Awaitable[object]]
    due: float = 0.0
    # When the work says there is more to do (a true result), it runs again this soon instead.
    busy_interval: float | None = None

    async def run_if_due(self, now: float) -> None:
        if now < self.due:
            return
        with log_context.about(step=self.backoff.what):
            started = time.perf_counter()
            try:
                more = await self.work()
                self.backoff.succeeded()
                wait = self.busy_interval if more and self.busy_interval is not None else self.interval
                self.due = time.monotonic() + wait
            except Exception as error:
                self.due = time.monotonic() + self.backoff.failed(error)
                return
            _log_step(self.backoff.what, more, time.perf_counter() - started)


def _log_step(what: str, result: object, seconds: float) -> None:
    """The pass's line: how long it took and, when the work counts what it changed, how many."""
    duration_ms = round(seconds * 1000, 1)
    changed = result if isinstance(result, int) and not isinstance(result, bool) else None
    steps.log(
        logging.INFO if changed else logging.DEBUG,
        "%s pass in %.1f ms%s", what, duration_ms, f", {changed} changed" if changed is not None else "",
        extra=fields(changed=changed, duration_ms=duration_ms),
    )  # fmt: skip


async def _housekeeping(services: Services) -> int:
    """Forgets what no longer means anything: spent limit counters, and attempts that never reached a
    platform once they are older than the retention the operator chose; returns how many attempts went."""
    await services.limit_store.prune()
    retention = timedelta(days=services.settings.attempt_retention_days)
    return await attempts.prune_abandoned(services.database, utcnow() - retention)


async def _rotations(services: Services) -> None:
    await services.key_rotation.schedule()
    await services.key_rotation.advance()


async def run(
    services: Services,
    stop: asyncio.Event,
    *,
    poll_interval: float = POLL_INTERVAL,
    first_backoff: float = FIRST_BACKOFF,
    max_backoff: float = MAX_BACKOFF,
    heartbeat: Heartbeat | None = None,
) -> None:
    """Works until `stop` is set; a pass in progress finishes first, so no delivery is left half-recorded.
    Each time round it tells `heartbeat` (what /readyz reads)."""
    heartbeat = heartbeat or Heartbeat()
    worker = DeliveryWorker(services.database, services.poster, services.tenants, services.settings)
    deliveries = Backoff("webhook delivery", first_backoff, max_backoff)
    chores = [
        _Chore(Backoff("signing-key rotation", first_backoff, max_backoff), ROTATION_CHECK_INTERVAL,
               lambda: _rotations(services)),
        _Chore(Backoff("housekeeping", first_backoff, max_backoff), HOUSEKEEPING_INTERVAL,
               lambda: _housekeeping(services)),
        # One key a pass (about 100 ms, in a child process), so deliveries never wait for a whole refill.
        _Chore(Backoff("spare signing keys", first_backoff, max_backoff), ROTATION_CHECK_INTERVAL,
               lambda: services.key_pool.refill(limit=1), busy_interval=poll_interval),
        _Chore(Backoff("registration attempt sweep", first_backoff, max_backoff), ATTEMPT_SWEEP_INTERVAL,
               lambda: attempts.interrupt_stalled(services.database)),
    ]  # fmt: skip
    # Deliveries and chores go round side by side, so a delivery never waits for a chore (a key generated in a
    # child process, a rotation) to finish.
    wakeup = Wakeup()
    tasks = [_deliveries(worker, wakeup, deliveries, stop, heartbeat, poll_interval), _chores(chores, stop)]
    if services.database.engine.dialect.name == "postgresql":
        tasks.append(listen(services.settings.database_url, wakeup, stop))
    await asyncio.gather(*tasks)


async def _deliveries(
    worker: DeliveryWorker,
    wakeup: Wakeup,
    backoff: Backoff,
    stop: asyncio.Event,
    heartbeat: Heartbeat,
    poll_interval: float,
) -> None:
    # Deliveries go out as tasks of their own: the loop claims more while slow receivers are still answering.
    try:
        while not stop.is_set():
            heartbeat.beat()
            pause = poll_interval
            try:
                more = await worker.start_due()
                backoff.succeeded()
                if more:
                    continue
            except Exception as error:
                pause = backoff.failed(error)
            # Claiming again finds more only once an event commits, a retry falls due (the poll), or a tenant's
            # deliveries under way leave it room.
            await _pause(stop, pause, wakeup.wait(), worker.room_made())
    finally:
        await worker.finish()


async def _chores(chores: list[_Chore], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for chore in chores:
            await chore.run_if_due(time.monotonic())
        pause = min(chore.due for chore in chores) - time.monotonic()
        if pause > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)


async def _pause(stop: asyncio.Event, seconds: float, *wakers: Coroutine[Any, Any, None]) -> None:
    """Waits `seconds`, or until stopped or woken (by an event committed, whose delivery is due now)."""
    waiting = [asyncio.ensure_future(stop.wait()), *(asyncio.ensure_future(waker) for waker in wakers)]
    await asyncio.wait(waiting, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for future in waiting:
        future.cancel()


@contextlib.asynccontextmanager
async def running(services: Services, heartbeat: Heartbeat) -> AsyncIterator[None]:
    """The background loop beside whatever runs inside the block (the HTTP server), if the settings want it."""
    if not services.settings.run_worker:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(run(services, stop, heartbeat=heartbeat), name="broker background loop")
    task.add_done_callback(lambda _: heartbeat.stop())
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
