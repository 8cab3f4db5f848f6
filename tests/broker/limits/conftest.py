from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from broker.database import Database
from broker.limits.store import DatabaseLimitStore, LimitStore, RedisLimitStore
from tests.clock import Clock
from tests.conftest import LIMIT_STORES, REDIS_URL


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000.0)


@pytest_asyncio.fixture(params=LIMIT_STORES)
async def limit_store(request: pytest.FixtureRequest, database_url: str, clock: Clock) -> AsyncIterator[LimitStore]:
    """A store on the test database, or on Redis under a namespace of its own, on a clock the test moves."""
    if request.param == "redis":
        store: LimitStore = RedisLimitStore(REDIS_URL, f"test:{secrets.token_hex(6)}", clock=clock)
        yield store
        await store.close()
        return
    database = Database(database_url)
    yield DatabaseLimitStore(database, clock=clock)
    await database.dispose()
