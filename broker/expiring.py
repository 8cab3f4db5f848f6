"""A cache whose answers expire after a time and whose size is bounded: what every per-process cache of
database answers uses, so that none grows with the number of tenants or values it has been asked about."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    """At most `max_entries` values, each kept `ttl` seconds; when full, the one stored longest ago goes."""

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries.pop(key, None)  # stored again: it goes to the end, the last to be dropped
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (self._clock() + self._ttl, value)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def __iter__(self) -> Iterator[K]:
        """The keys held, expired ones included (a snapshot: the cache may change meanwhile)."""
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
