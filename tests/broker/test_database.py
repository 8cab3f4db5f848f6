"""The database layer under concurrent writers: SQLite write transactions queue instead of failing, and the
ephemeral connection's statements commit together or not at all, on both engines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import text

from broker.database import Database, new_id


@pytest_asyncio.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS scratch_counts (task INTEGER, n INTEGER)"))
        await session.execute(text("DELETE FROM scratch_counts"))
    yield database
    async with database.transaction() as session:
        await session.execute(text("DROP TABLE scratch_counts"))
    await database.dispose()


async def count(database: Database) -> int:
    async with database.session() as session:
        return int((await session.execute(text("SELECT COUNT(*) FROM scratch_counts"))).scalar_one())


async def test_concurrent_write_transactions_all_commit(database: Database) -> None:
    """Read-then-write transactions from many tasks: on SQLite a deferred one would fail with 'database is
    locked' when another commits in between; write transactions start IMMEDIATE and take turns."""

    async def writer(task: int) -> None:
        for n in range(20):
            async with database.transaction() as session:
                await session.execute(text("SELECT COUNT(*) FROM scratch_counts"))
                await session.execute(text("INSERT INTO scratch_counts VALUES (:task, :n)"), {"task": task, "n": n})
            async with database.ephemeral() as connection:
                await connection.execute(
                    text("INSERT INTO scratch_counts VALUES (:task, :n)"), {"task": task, "n": -n}
                )

    await asyncio.gather(*(writer(task) for task in range(8)))
    assert await count(database) == 8 * 20 * 2


async def test_ephemeral_statements_commit_together_or_not_at_all(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.ephemeral() as connection:
            await connection.execute(text("INSERT INTO scratch_counts VALUES (1, 1)"))
            raise RuntimeError("something failed after the first statement")
    assert await count(database) == 0
    async with database.ephemeral() as connection:
        await connection.execute(text("INSERT INTO scratch_counts VALUES (1, 1)"))
        await connection.execute(text("INSERT INTO scratch_counts VALUES (1, 2)"))
    assert await count(database) == 2


def test_ids_sort_in_creation_order_even_within_one_millisecond() -> None:
    ids = [new_id("reg") for _ in range(2000)]
    assert sorted(ids) == ids
    assert len(set(ids)) == len(ids)
    assert {len(identifier) for identifier in ids} == {len("reg_") + 10 + 16}
