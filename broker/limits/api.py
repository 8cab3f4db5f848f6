"""The API's rate limits: requests per API key, and failed authentications per client address.

Checked before a key is looked up, so that a refused request costs no key lookup: a flood of requests with one
key is limited by the key's bucket, and a flood of made-up keys from one address by the address's bucket of
failures. Keys that authenticated lately still pass when their address is limited, so one misbehaving client
behind a shared address cannot lock the others out (which keys did is remembered per process: it only ever
lets a known key through, never raises a limit).
"""

from __future__ import annotations

from collections import OrderedDict

from broker.limits.store import LimitStore, Rate

MAX_TRUSTED_KEYS = 10_000


class ApiLimits:
    """`per_minute` requests a minute per API key, and as many failed authentications per client address."""

    def __init__(self, store: LimitStore, per_minute: int) -> None:
        self.store = store
        self.per_minute = per_minute
        self.requests = Rate("api-requests", per_minute)
        self.failures = Rate("api-failures", per_minute)
        self._trusted: OrderedDict[str, None] = OrderedDict()

    async def wait_before_lookup(self, key_digest: str, address: str) -> float:
        """0 when a request with this key, from this address, may be looked up; else the seconds to wait."""
        wait = await self.store.take([(self.requests, key_digest)])
        if wait or key_digest in self._trusted:
            return wait
        return await self.store.wait(self.failures, address)

    async def failed(self, address: str) -> None:
        """An authentication from this address failed."""
        await self.store.take([(self.failures, address)])

    def succeeded(self, key_digest: str) -> None:
        """This key authenticated: it passes even when its address is limited for failures."""
        self._trusted.pop(key_digest, None)
        self._trusted[key_digest] = None
        if len(self._trusted) > MAX_TRUSTED_KEYS:
            self._trusted.popitem(last=False)
