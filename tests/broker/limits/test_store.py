"""The limit stores (database and Redis) count the same way: a burst up to the limit, then one token per
interval; places for calls in flight up to the limit, given back on release or when their time is up."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from broker.database import Database
from broker.limits.store import LEASE_SECONDS, DatabaseLimitStore, LimitStore, Places, Rate, RedisLimitStore
from tests.clock import Clock
from tests.conftest import REDIS_URL

# Longer than the loop was seen held up in loaded runs (0.7 s in a small test process), and than the old 2 s deadline.
HELD_UP_SECONDS = 2.5


def subject() -> str:
    return secrets.token_hex(4)


async def test_a_bucket_allows_a_burst_then_refills_at_the_rate(limit_store: LimitStore, clock: Clock) -> None:
    rate, a, b = Rate("test", 60), subject(), subject()
    assert [await limit_store.take([(rate, a)]) for _ in range(60)] == [0.0] * 60
    assert await limit_store.wait(rate, a) == pytest.approx(1.0, abs=0.01)
    assert await limit_store.take([(rate, a)]) == pytest.approx(1.0, abs=0.01)
    assert await limit_store.take([(rate, b)]) == 0.0, "each subject has its own bucket"
    clock.now += 2
    assert await limit_store.wait(rate, a) == 0.0, "waiting spends nothing"
    assert await limit_store.take([(rate, a)]) == 0.0 and await limit_store.take([(rate, a)]) == 0.0
    assert await limit_store.take([(rate, a)]) > 0


async def test_a_take_over_several_buckets_answers_the_longest_wait(limit_store: LimitStore, clock: Clock) -> None:
    slow, fast, who, where = Rate("slow", 2), Rate("fast", 60), subject(), subject()
    assert await limit_store.take([(slow, who), (fast, where)]) == 0.0
    assert await limit_store.take([(slow, who), (fast, where)]) == 0.0
    assert await limit_store.take([(slow, who), (fast, where)]) == pytest.approx(30.0, abs=0.01)
    assert await limit_store.take([(fast, where)]) == 0.0, "the fast bucket still had tokens"


async def test_a_take_refused_by_one_bucket_still_spends_the_others_tokens(
    limit_store: LimitStore, clock: Clock
) -> None:
    tight, roomy, who = Rate("tight", 1), Rate("roomy", 3), subject()
    assert await limit_store.take([(tight, who), (roomy, who)]) == 0.0
    assert await limit_store.take([(tight, who), (roomy, who)]) == pytest.approx(60.0, abs=0.01)
    assert await limit_store.wait(tight, who) == pytest.approx(60.0, abs=0.01), "the refused bucket is as it was"
    assert await limit_store.take([(roomy, who)]) == 0.0, "the roomy bucket's third token is left"
    assert await limit_store.take([(roomy, who)]) == pytest.approx(20.0, abs=0.01)


async def test_a_take_over_buckets_of_different_periods_counts_each_at_its_own_rate(
    limit_store: LimitStore, clock: Clock
) -> None:
    minute, hour, who = Rate("minute", 1, 60), Rate("hour", 2, 3600), subject()
    assert await limit_store.take([(minute, who), (hour, who)]) == 0.0
    assert await limit_store.take([(minute, who), (hour, who)]) == pytest.approx(60.0, abs=0.01)
    clock.now += 61
    # The hour's two tokens are spent (the second by the take the minute refused): one is back after 1,800 s.
    assert await limit_store.take([(minute, who), (hour, who)]) == pytest.approx(1800 - 61, abs=0.01)
    assert await limit_store.wait(minute, who) == pytest.approx(60.0, abs=0.01), "the minute's token was spent"


async def test_buckets_of_one_name_with_other_rates_are_apart(limit_store: LimitStore) -> None:
    who = subject()
    assert await limit_store.take([(Rate("same", 1), who)]) == 0.0
    assert await limit_store.take([(Rate("same", 1), who)]) > 0
    assert await limit_store.take([(Rate("same", 100), who)]) == 0.0


async def test_concurrent_takes_never_hand_out_more_than_the_limit(limit_store: LimitStore) -> None:
    rate, who = Rate("race", 10), subject()
    waits = await asyncio.gather(*(limit_store.take([(rate, who)]) for _ in range(30)))
    assert sum(1 for wait in waits if wait == 0.0) == 10


async def test_takers_in_two_processes_never_both_get_the_last_tokens(
    limit_store: LimitStore, database_url: str, clock: Clock
) -> None:
    """Another process's store (its own connections) takes from the same buckets at the same time."""
    if isinstance(limit_store, RedisLimitStore):
        other: LimitStore = RedisLimitStore(REDIS_URL, limit_store.namespace, clock=clock)
    else:
        other = DatabaseLimitStore(Database(database_url), clock=clock)
    scarce, plenty, who = Rate("scarce", 5), Rate("plenty", 1000), subject()
    takes = [store.take([(plenty, who), (scarce, who)]) for _ in range(10) for store in (limit_store, other)]
    waits = await asyncio.gather(*takes)
    assert sum(1 for wait in waits if wait == 0.0) == 5
    assert await limit_store.wait(scarce, who) == pytest.approx(12.0, abs=0.01), "the next token in 60 s / 5"
    await other.close()
    if isinstance(other, DatabaseLimitStore):
        await other.database.dispose()


async def test_places_in_flight_up_to_the_limit_come_back_on_release_or_expiry(
    limit_store: LimitStore, clock: Clock
) -> None:
    calls = Places("calls", 2, subject())
    first, second = await limit_store.acquire([calls]), await limit_store.acquire([calls])
    assert first is not None and second is not None
    assert await limit_store.acquire([calls]) is None
    assert await limit_store.acquire([Places("calls", 2, subject())]) is not None, "each subject has its own places"
    await limit_store.release(first)
    third = await limit_store.acquire([calls])
    assert third is not None
    assert await limit_store.acquire([calls]) is None
    clock.now += LEASE_SECONDS + 1
    assert await limit_store.acquire([calls]) is not None, "a holder killed mid-call frees its place"
    await limit_store.prune()


async def test_places_of_several_limits_are_held_all_together_or_not_at_all(limit_store: LimitStore) -> None:
    roomy, tight = Places("roomy", 2, subject()), Places("tight", 1, subject())
    held = await limit_store.acquire([roomy, tight])
    assert held is not None and len(held) == 2
    assert await limit_store.acquire([roomy, tight]) is None, "the tight limit is full"
    assert await limit_store.acquire([roomy]) is not None, "the refused call took no place of the roomy limit"
    assert await limit_store.acquire([roomy]) is None
    await limit_store.release(held)
    assert await limit_store.acquire([tight]) is not None, "release gives back every place held"


async def test_pruning_forgets_only_what_means_nothing(limit_store: LimitStore, clock: Clock) -> None:
    rate, who = Rate("prune", 1, 60), subject()
    await limit_store.take([(rate, who)])
    await limit_store.prune()
    assert await limit_store.wait(rate, who) > 0, "a bucket that is not full again is kept"
    clock.now += 61
    await limit_store.prune()
    assert await limit_store.wait(rate, who) == 0.0


async def test_a_take_answers_though_the_event_loop_is_held_up_while_it_connects(limit_store: LimitStore) -> None:
    """A loaded host (the suite on every core of a 2-core machine) can hold this process's event loop up for a
    second or more just as the store connects. Redis has accepted the connection meanwhile, but a connect deadline
    counts the hold-up too: with 2 s, Redis looked unreachable ("Timeout connecting to server")."""
    asyncio.get_running_loop().call_soon(time.sleep, HELD_UP_SECONDS)
    assert await limit_store.take([(Rate("held", 1), subject())]) == 0.0
