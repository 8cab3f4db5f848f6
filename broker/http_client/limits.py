"""How many outbound requests may be under way at once: a pool per purpose, and a share of it per destination.

Anonymous callers can make the broker fetch from hosts they choose. With one shared pool, a hundred slow
registration fetches held every connection and a tenant's token request timed out waiting for one. Each
purpose now has its own pool, and each destination (scheme, host, port) at most a share of it, so a slow
host delays only the requests sent to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Hashable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Purpose(StrEnum):
    """What an outbound request is for; each purpose has its own connection pool."""

    REGISTRATION = "registration"
    """A platform's configuration and registration endpoint, for anyone who opens a registration URL."""
    PLATFORM_KEYS = "platform_keys"
    """A platform's JWKS, to verify launches."""
    SERVICE_TOKENS = "service_tokens"
    """A platform's token endpoint, for a tenant's service token or a Verify."""
    WEBHOOKS = "webhooks"
    """A delivery to a tenant's webhook endpoint."""


@dataclass(frozen=True)
class PoolLimits:
    connections: int
    """Connections in use at once for the purpose, over all destinations."""
    per_destination: int
    """Requests under way at once to one destination; more wait for a place, up to the pool timeout.
    A destination shares its purpose's pool with the others: all of it when equal to `connections`."""
    keepalive_expiry: float
    """Seconds an idle connection is kept for the next request to the same destination. `connections` counts
    connections in use; idle ones are not capped by number but closed after this long unused."""


POOL_LIMITS: Mapping[Purpose, PoolLimits] = MappingProxyType(
    {
        # Anonymous and one-off: the configuration and the registration POST go to one host a few seconds apart.
        Purpose.REGISTRATION: PoolLimits(connections=40, per_destination=8, keepalive_expiry=5.0),
        # Cached per platform and refetched rarely; a platform's launches share a few connections.
        Purpose.PLATFORM_KEYS: PoolLimits(connections=40, per_destination=4, keepalive_expiry=30.0),
        # One token endpoint serves every institution of a hosted LMS (Canvas's is one host), so its share is
        # wide; a slow or hostile one (the anonymous Verify button can name it) still leaves most of the pool.
        Purpose.SERVICE_TOKENS: PoolLimits(connections=100, per_destination=25, keepalive_expiry=30.0),
        # No share below the pool: the delivery worker bounds its own concurrency, per tenant and in all
        # (webhooks/worker.py: IN_FLIGHT, PER_TENANT), and a tighter share only made a burst to one endpoint
        # time out in the queue. Room for all of it, connections kept for the next deliveries to the same
        # receivers. The pool of its own keeps deliveries from starving the other purposes.
        Purpose.WEBHOOKS: PoolLimits(connections=128, per_destination=128, keepalive_expiry=30.0),
    }
)


class _Slot:
    """The places taken for one key, and who waits for one, first come first served."""

    __slots__ = ("held", "waiters")

    def __init__(self) -> None:
        self.held = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


class KeyedLimiter:
    """At most `limit` holders of each key at once; others wait their turn. Keys nobody holds or awaits
    take no memory, so keys may come from anyone (a host, a tenant, a client address).

    A released place goes straight to the first waiter: nobody arriving meanwhile takes it first. A free place
    is taken without a semaphore or a timer of its own, as most are (one is made per key only to wait).
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._slots: dict[Hashable, _Slot] = {}

    async def acquire(self, key: Hashable, *, timeout: float | None) -> None:  # noqa: ASYNC109
        """Take a place for `key`, waiting at most `timeout` seconds (0: not at all); raises TimeoutError."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        if slot.held < self._limit and not slot.waiters:
            slot.held += 1
            return
        turn = asyncio.get_running_loop().create_future()
        slot.waiters.append(turn)
        try:
            async with asyncio.timeout(timeout):
                await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release(key)  # given the place just as it gave up: passed on
            elif turn in slot.waiters:  # else a release already passed it over
                slot.waiters.remove(turn)
                self._forget_if_idle(key, slot)
            raise

    def release(self, key: Hashable) -> None:
        slot = self._slots[key]
        while slot.waiters:
            turn = slot.waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the place changes hands: as many held
                return
        slot.held -= 1
        self._forget_if_idle(key, slot)

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable, *, timeout: float | None) -> AsyncIterator[None]:  # noqa: ASYNC109
        await self.acquire(key, timeout=timeout)
        try:
            yield
        finally:
            self.release(key)

    def __len__(self) -> int:
        """How many keys are held or awaited."""
        return len(self._slots)

    def _forget_if_idle(self, key: Hashable, slot: _Slot) -> None:
        if slot.held == 0 and not slot.waiters:
            del self._slots[key]
