"""A registration step's limits, taken in the step's own write: a refusal names the limit that refused, and
takes nothing (the database store's write rolls back; Redis is never asked for the call's tokens)."""

from __future__ import annotations

import secrets

import pytest

from broker.database import Database
from broker.limits.public import PublicLimits, TooManyRequests
from broker.limits.store import DatabaseLimitStore, LimitStore
from tests.conftest import make_settings


def limits(
    store: LimitStore, database_url: str, *, requests: int = 100, calls: int = 100, in_flight: int = 1000
) -> PublicLimits:
    settings = make_settings(
        database_url,
        "http://broker.test",
        public_rate_limit=requests,
        tenant_rate_limit=1000,
        registration_fetch_limit=calls,
        registration_fetch_concurrency=(in_flight, 1000),
    )
    return PublicLimits(store, settings)


async def enter(database: Database, public: PublicLimits, tenant: str, address: str) -> None:
    async with database.ephemeral() as connection:
        await public.enter_step(tenant, tenant, address, connection)


@pytest.fixture
def database(database_url: str) -> Database:
    return Database(database_url)


async def test_a_refused_request_names_the_request_limit_and_spends_no_call(
    limit_store: LimitStore, database: Database, database_url: str
) -> None:
    public, tenant, address = limits(limit_store, database_url, requests=1), secrets.token_hex(4), secrets.token_hex(4)
    await enter(database, public, tenant, address)
    with pytest.raises(TooManyRequests, match="more requests than"):
        await enter(database, public, tenant, address)
    assert await limit_store.wait(public.fetches_per_address, address) == 0.0, "a call's token is left"
    await database.dispose()


async def test_a_refused_call_names_the_call_limit_and_in_the_database_spends_no_request(
    limit_store: LimitStore, database: Database, database_url: str
) -> None:
    public = limits(limit_store, database_url, requests=2, calls=1)
    tenant, address = secrets.token_hex(4), secrets.token_hex(4)
    await enter(database, public, tenant, address)
    with pytest.raises(TooManyRequests, match="started more often"):
        await enter(database, public, tenant, address)
    if isinstance(limit_store, DatabaseLimitStore):
        # The refusal rolled the step's write back: the second of the address's two request tokens is left.
        assert await limit_store.take([(public.per_address, address)]) == 0.0
        assert await limit_store.take([(public.per_address, address)]) > 0
    await database.dispose()


async def test_a_step_refused_a_place_in_flight_in_the_database_spends_no_token(
    limit_store: LimitStore, database: Database, database_url: str
) -> None:
    public = limits(limit_store, database_url, requests=2, calls=2, in_flight=1)
    tenant, address = secrets.token_hex(4), secrets.token_hex(4)
    await enter(database, public, tenant, address)  # holds the address's one place: its call is still in flight
    with pytest.raises(TooManyRequests, match="waiting for their platforms"):
        await enter(database, public, tenant, address)
    if isinstance(limit_store, DatabaseLimitStore):
        # The step's buckets and places go together: its write rolled back, its tokens with it.
        assert await limit_store.take([(public.per_address, address), (public.fetches_per_address, address)]) == 0.0
        assert await limit_store.take([(public.fetches_per_address, address)]) > 0
    await database.dispose()
