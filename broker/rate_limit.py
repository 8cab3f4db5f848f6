"""The API's rate limits: requests per API key, and failed authentications per client address.

Checked before a key is looked up, so that a refused request costs no database work: a flood of requests with
one key is limited by the key's bucket, and a flood of made-up keys from one address by the address's bucket
of failures. Keys that authenticated lately still pass when their address is limited, so one misbehaving
client behind a shared address cannot lock the others out.

The buckets live in this process's memory (`MemoryBuckets`); with several broker processes each keeps its
own, so the real limits are the setting times the number of processes. `Buckets` is all a shared store has
to provide to take their place.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

# Buckets of keys not seen for a while are dropped first; a full bucket and a missing one are the same.
MAX_TRACKED_KEYS = 10_000


class Buckets(Protocol):
    """Token buckets by key: `per_minute` tokens a minute, in bursts of up to `per_minute`."""

    def take(self, key: str) -> float:
        """Spends a token: 0 when there was one; otherwise nothing is spent and the seconds until there is."""
        ...

    def wait(self, key: str) -> float:
        """The seconds until a token is there (0 when one is), spending nothing."""
        ...


class MemoryBuckets:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        tokens = self._refilled(key)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self._rate
        self._store(key, tokens)
        return wait

    def wait(self, key: str) -> float:
        tokens = self._refilled(key)
        self._store(key, tokens)
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate

    def _refilled(self, key: str) -> float:
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self._capacity, now))
        return min(self._capacity, tokens + (now - last) * self._rate)

    def _store(self, key: str, tokens: float) -> None:
        self._buckets[key] = (tokens, self._clock())
        if len(self._buckets) > MAX_TRACKED_KEYS:
            self._buckets.popitem(last=False)


class RateLimiter:
    """`per_minute` requests a minute per API key, and as many failed authentications per client address."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        buckets: Callable[..., Buckets] = MemoryBuckets,
    ) -> None:
        self.per_minute = per_minute
        self.requests = buckets(per_minute, clock=clock)
        self.failures = buckets(per_minute, clock=clock)
        self._trusted: OrderedDict[str, None] = OrderedDict()

    def wait_before_lookup(self, key_digest: str, address: str) -> float:
        """0 when a request with this key, from this address, may be looked up; else the seconds to wait."""
        wait = self.requests.take(key_digest)
        if wait or key_digest in self._trusted:
            return wait
        return self.failures.wait(address)

    def failed(self, address: str) -> None:
        """An authentication from this address failed."""
        self.failures.take(address)

    def succeeded(self, key_digest: str) -> None:
        """This key authenticated: it passes even when its address is limited for failures."""
        self._trusted.pop(key_digest, None)
        self._trusted[key_digest] = None
        if len(self._trusted) > MAX_TRACKED_KEYS:
            self._trusted.popitem(last=False)
