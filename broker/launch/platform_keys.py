"""Platform key sets (JWKS), fetched through the guarded client and cached in this process per `jwks_uri`.

Launches must not wait on a platform for keys the broker already holds, and a token naming an unknown `kid`
must not let anyone make the broker hammer a platform: a set is kept as long as its Cache-Control allows
(between a minute and a day), and refetched early, because of an unknown `kid`, at most once a minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key, KeySet

from broker.http_client import GuardedClient, OutboundError, Purpose
from broker.metrics import CACHE_LOOKUPS, series_inc
from broker.redaction import redact_url

logger = logging.getLogger("broker.launch")

MIN_REFETCH_INTERVAL = 60.0
_MISSES = CACHE_LOOKUPS.labels("platform_keys", "miss")
_HIT = series_inc(CACHE_LOOKUPS.labels("platform_keys", "hit"))  # counted at every launch
DEFAULT_MAX_AGE = 300.0
MAX_MAX_AGE = 86_400.0
# After a failed fetch, launches are refused at once for a while instead of each waiting on a dead endpoint.
FAILURE_BACKOFF = 10.0
# A platform whose key endpoint is down keeps working with the keys it last published, for this long.
MAX_STALE = 86_400.0


class PlatformKeysError(Exception):
    """The key set could not be fetched or read; `reason` is safe to show and to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def freshness(cache_control: str | None) -> float:
    """Seconds a fetched key set stays fresh: the response's `max-age`, bounded to a minute .. a day."""
    max_age = DEFAULT_MAX_AGE
    for directive in (cache_control or "").lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return MIN_REFETCH_INTERVAL
        seconds = value.strip().strip('"')
        # HTTP's delta-seconds are ASCII digits; str.isdigit() also takes "²" and other scripts' digits.
        if name == "max-age" and seconds.isascii() and seconds.isdigit():
            max_age = float(seconds)
    return min(max(max_age, MIN_REFETCH_INTERVAL), MAX_MAX_AGE)


def parse_key_set(document: Any) -> KeySet:
    """The keys of a JWKS document that joserfc can read; keys of unknown types are skipped, not fatal."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise PlatformKeysError("the key set is not a JSON object with a `keys` array")
    keys: list[Key] = []
    for entry in document["keys"]:
        if not isinstance(entry, dict):
            continue
        try:
            keys.append(JWKRegistry.import_key(entry))
        except (JoseError, TypeError, ValueError, KeyError):
            continue
    if not keys:
        raise PlatformKeysError("the key set holds no usable key")
    return KeySet(keys)


@dataclass(frozen=True)
class _Entry:
    keys: KeySet
    fetched_at: float
    fresh_until: float


class PlatformKeys:
    def __init__(self, client: GuardedClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._failures: dict[str, tuple[float, str]] = {}
        self._refetched_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, jwks_uri: str) -> KeySet:
        entry = self._entries.get(jwks_uri)
        if entry is not None and entry.fresh_until > self._clock():
            _HIT(1)
            return entry.keys
        async with self._lock(jwks_uri):
            entry = self._entries.get(jwks_uri)
            if entry is not None and entry.fresh_until > self._clock():
                _HIT(1)
                return entry.keys
            _MISSES.inc()
            return await self._fetch(jwks_uri)

    async def refresh(self, jwks_uri: str, seen: KeySet) -> KeySet | None:
        """After a `kid` missing from `seen`: a newer set, or None when an unknown `kid` already made this set
        be refetched under a minute ago (a rotated key is found at once; forged kids cost one fetch a minute)."""
        async with self._lock(jwks_uri):
            entry = self._entries.get(jwks_uri)
            if entry is not None and entry.keys is not seen:
                return entry.keys  # another launch refetched while this one waited
            now = self._clock()
            if now - self._refetched_at.get(jwks_uri, -MIN_REFETCH_INTERVAL) < MIN_REFETCH_INTERVAL:
                return None
            self._refetched_at[jwks_uri] = now
            keys = await self._fetch(jwks_uri)
            return None if keys is seen else keys

    def _lock(self, jwks_uri: str) -> asyncio.Lock:
        return self._locks.setdefault(jwks_uri, asyncio.Lock())

    async def _fetch(self, jwks_uri: str) -> KeySet:
        now = self._clock()
        stale = self._entries.get(jwks_uri)
        failure = self._failures.get(jwks_uri)
        if failure is not None and now - failure[0] < FAILURE_BACKOFF:
            return self._stale_or_raise(stale, now, failure[1])
        try:
            response = await self._client.get(
                jwks_uri, purpose=Purpose.PLATFORM_KEYS, headers={"Accept": "application/json"}
            )
            if not response.is_success:
                raise PlatformKeysError(f"the key set endpoint answered HTTP {response.status_code}")
            keys = parse_key_set(response.json())
        except (OutboundError, PlatformKeysError) as error:
            reason = error.reason
            self._failures[jwks_uri] = (now, reason)
            logger.warning("platform key set %s could not be fetched: %s", redact_url(jwks_uri), reason)
            return self._stale_or_raise(stale, now, reason)
        self._failures.pop(jwks_uri, None)
        self._entries[jwks_uri] = _Entry(keys, now, now + freshness(response.headers.get("cache-control")))
        return keys

    @staticmethod
    def _stale_or_raise(stale: _Entry | None, now: float, reason: str) -> KeySet:
        if stale is not None and now - stale.fetched_at < MAX_STALE:
            return stale.keys
        raise PlatformKeysError(reason)
