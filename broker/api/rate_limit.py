"""Per-API-key rate limiting: a token bucket per key, in this process's memory.

In memory so that a refused request costs no database work; with several broker processes each keeps its
own buckets, so a key's real limit is the setting times the number of processes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

# Buckets of keys not seen for a while are dropped first; a full bucket and a missing one are the same.
MAX_TRACKED_KEYS = 10_000


class RateLimiter:
    """`per_minute` requests a minute per key, in bursts of up to `per_minute`."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """0 when the request may go ahead; otherwise the seconds until it may."""
        now = self._clock()
        tokens, last = self._buckets.pop(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * self._rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self._rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > MAX_TRACKED_KEYS:
            self._buckets.popitem(last=False)
        return wait
