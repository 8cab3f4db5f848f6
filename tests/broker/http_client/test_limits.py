"""The keyed limiter: at most N holders per key, the others wait their turn, idle keys are forgotten."""

from __future__ import annotations

import asyncio

import pytest

from broker.http_client import KeyedLimiter
from broker.http_client.limits import POOL_LIMITS, Purpose


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_key_has_at_most_limit_holders_and_the_next_one_waits_its_turn() -> None:
    limiter = KeyedLimiter(2)
    await limiter.acquire("a", timeout=0)
    await limiter.acquire("a", timeout=0)

    waiting = asyncio.create_task(limiter.acquire("a", timeout=None))
    await settle()
    assert not waiting.done()

    limiter.release("a")
    await waiting
    assert len(limiter) == 1


async def test_keys_do_not_share_places() -> None:
    limiter = KeyedLimiter(1)
    await limiter.acquire("a", timeout=0)

    await limiter.acquire("b", timeout=0)

    with pytest.raises(TimeoutError):
        await limiter.acquire("a", timeout=0)


async def test_a_waiter_that_gives_up_leaves_nothing_behind() -> None:
    limiter = KeyedLimiter(1)
    await limiter.acquire("a", timeout=0)

    with pytest.raises(TimeoutError):
        await limiter.acquire("a", timeout=0.01)
    limiter.release("a")

    assert len(limiter) == 0


async def held_with_waiters(count: int) -> tuple[KeyedLimiter, list[asyncio.Task[None]]]:
    """A limiter of one place for "a", held, and `count` tasks waiting for it."""
    limiter = KeyedLimiter(1)
    await limiter.acquire("a", timeout=0)
    waiting = [asyncio.create_task(limiter.acquire("a", timeout=None)) for _ in range(count)]
    await settle()
    return limiter, waiting


async def test_a_place_given_to_a_waiter_that_gives_up_at_once_goes_to_the_next() -> None:
    limiter, (first, second) = await held_with_waiters(2)

    limiter.release("a")
    first.cancel()
    await settle()

    assert first.cancelled()
    assert second.done()
    limiter.release("a")
    assert len(limiter) == 0


async def test_a_release_while_the_only_waiter_gives_up_leaves_nothing_behind() -> None:
    limiter, (waiting,) = await held_with_waiters(1)

    waiting.cancel()
    limiter.release("a")
    await settle()

    assert waiting.cancelled()
    assert len(limiter) == 0
    await limiter.acquire("a", timeout=0)


async def test_waiters_take_their_places_in_the_order_they_came() -> None:
    limiter = KeyedLimiter(1)
    await limiter.acquire("a", timeout=0)
    served: list[int] = []

    async def wait(number: int) -> None:
        await limiter.acquire("a", timeout=None)
        served.append(number)

    waiting = [asyncio.create_task(wait(number)) for number in range(3)]
    await settle()
    for _ in range(3):
        limiter.release("a")
        await settle()
    await asyncio.gather(*waiting)

    assert served == [0, 1, 2]
    limiter.release("a")
    assert len(limiter) == 0


async def test_hold_gives_the_place_back_when_the_block_fails() -> None:
    limiter = KeyedLimiter(1)

    with pytest.raises(RuntimeError):
        async with limiter.hold(("tenant", "198.51.100.7"), timeout=0):
            raise RuntimeError("boom")

    assert len(limiter) == 0
    async with limiter.hold(("tenant", "198.51.100.7"), timeout=0):
        pass


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        KeyedLimiter(0)


def test_every_purpose_has_limits_within_its_pool() -> None:
    assert set(POOL_LIMITS) == set(Purpose)
    # Anonymous callers choose these hosts: one of them must never hold the whole pool.
    for purpose in (Purpose.REGISTRATION, Purpose.PLATFORM_KEYS, Purpose.SERVICE_TOKENS):
        assert POOL_LIMITS[purpose].per_destination < POOL_LIMITS[purpose].connections
    for limits in POOL_LIMITS.values():
        assert 1 <= limits.per_destination <= limits.connections
