"""The database layer under concurrent writers: SQLite write transactions queue instead of failing, and the
ephemeral connection's statements commit together or not at all, on both engines."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from broker import database as database_module
from broker.database import Database, new_id
from broker.migrate import upgrade


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


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "broker.db"


async def test_sqlite_files_are_readable_by_their_owner_only(sqlite_file: Path) -> None:
    url = f"sqlite:///{sqlite_file}"
    upgrade(url)
    database = Database(url)
    try:
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE scratch (n INTEGER)"))
        async with database.session() as session:
            await session.execute(text("SELECT COUNT(*) FROM scratch"))
            made = [sqlite_file, *(sqlite_file.with_name(sqlite_file.name + end) for end in ("-wal", "-shm"))]
            modes = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in made}
            assert set(modes.values()) == {"0o600"}, modes
    finally:
        await database.dispose()


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's writer that keeps SQLite's write lock until it commits."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def test_a_write_past_the_busy_timeout_is_tried_again_a_bounded_number_of_times(
    sqlite_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "SQLITE_BUSY_TIMEOUT_MS", 20)
    monkeypatch.setattr(database_module, "LOCKED_BACKOFF", 0.01)
    database = Database(f"sqlite:///{sqlite_file}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE scratch (n INTEGER)"))
    holder = hold_write_lock(sqlite_file)
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            async with database.transaction() as session:
                await session.execute(text("INSERT INTO scratch VALUES (1)"))
        attempts: list[int] = []
        opened = database.sessions

        def counted() -> AsyncSession:
            # The other process commits once this one has found the lock taken twice.
            attempts.append(1)
            if len(attempts) == 2:
                holder.commit()
            return opened()

        monkeypatch.setattr(database, "sessions", counted)
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO scratch VALUES (2)"))
        assert len(attempts) == 2
        async with database.session() as session:
            assert (await session.execute(text("SELECT n FROM scratch"))).scalars().all() == [2]
    finally:
        holder.close()
        await database.dispose()
