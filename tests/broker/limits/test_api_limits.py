"""The API's limits: failed authentications hold an address back, but not the keys that authenticated."""

from __future__ import annotations

from broker.limits.api import ApiLimits
from broker.limits.store import LimitStore


async def test_failures_limit_an_address_but_not_the_keys_that_authenticated_from_it(limit_store: LimitStore) -> None:
    limits = ApiLimits(limit_store, 3)
    limits.succeeded("good")
    for _ in range(3):
        assert await limits.wait_before_lookup("made-up", "10.0.0.1") == 0.0
        await limits.failed("10.0.0.1")
    assert await limits.wait_before_lookup("another made-up", "10.0.0.1") > 0
    assert await limits.wait_before_lookup("good", "10.0.0.1") == 0.0
    assert await limits.wait_before_lookup("made-up too", "10.0.0.2") == 0.0, "each address has its own bucket"


async def test_two_processes_share_one_key_limit(limit_store: LimitStore) -> None:
    one, other = ApiLimits(limit_store, 4), ApiLimits(limit_store, 4)
    waits = [await limits.wait_before_lookup("shared-key", "10.0.0.3") for limits in (one, other) * 3]
    assert waits[:4] == [0.0] * 4 and all(wait > 0 for wait in waits[4:])
