"""The database layer under concurrent writers: SQLite write transactions queue instead of failing, and the
ephemeral connection's statements commit together or not at all, on both engines."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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


async def test_statements_alone_each_commit_on_their_own_and_transactions_come_back_after(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.ephemeral(alone=True) as connection:
            await connection.execute(text("INSERT INTO scratch_counts VALUES (1, 1)"))
            raise RuntimeError("something failed after the statement")
    # On SQLite the statement was a transaction of its own; on PostgreSQL the statements still commit together.
    assert await count(database) == (1 if database.is_sqlite else 0)
    with pytest.raises(RuntimeError):
        async with database.ephemeral() as connection:
            await connection.execute(text("INSERT INTO scratch_counts VALUES (2, 1)"))
            raise RuntimeError("something failed after the first statement")
    assert await count(database) == (1 if database.is_sqlite else 0)


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


# A writer in another process: takes the write lock, says so, and commits when told to (a line on its stdin).
_OTHER_PROCESS_WRITER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute("INSERT INTO scratch VALUES (1)")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("COMMIT")
"""


async def test_a_write_waiting_for_another_connection_of_this_process_leaves_the_loop_free(
    sqlite_file: Path,
) -> None:
    """A transaction of this process holds SQLite's write lock across an await while another connection's write
    (here another Database's, which takes no turn with it) waits for the lock. Were that wait SQLite's busy
    handler on the event loop's thread, the holder could never resume to commit: the loop would stand still
    until the busy timeout and the write fail with 'database is locked'."""
    holder_database = Database(f"sqlite:///{sqlite_file}")
    waiter_database = Database(f"sqlite:///{sqlite_file}")
    locked, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with holder_database.transaction() as session:
            await session.execute(text("INSERT INTO scratch VALUES (1)"))
            locked.set()
            await release.wait()

    async def wait_then_write() -> None:
        async with waiter_database.ephemeral() as connection:
            await connection.execute(text("INSERT INTO scratch VALUES (2)"))

    try:
        async with holder_database.transaction() as session:
            await session.execute(text("CREATE TABLE scratch (n INTEGER)"))
        holding = asyncio.create_task(hold())
        await locked.wait()
        waiting = asyncio.create_task(wait_then_write())
        for _ in range(10):  # the waiter runs until it finds the lock taken
            await asyncio.sleep(0)
        release.set()
        await asyncio.gather(holding, waiting)
        async with waiter_database.session() as session:
            assert (await session.execute(text("SELECT n FROM scratch"))).scalars().all() == [1, 2]
    finally:
        await holder_database.dispose()
        await waiter_database.dispose()


@pytest.mark.parametrize("alone", [False, True], ids=["transaction", "alone"])
async def test_a_write_waiting_for_another_process_leaves_the_loop_free(sqlite_file: Path, alone: bool) -> None:
    """Another process (a `broker` command, say) holds the write lock until this process's loop tells it to
    commit: the loop has to go on running while this process's write waits, a statement alone too."""
    database = Database(f"sqlite:///{sqlite_file}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE scratch (n INTEGER)"))
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _OTHER_PROCESS_WRITER, str(sqlite_file), stdin=PIPE, stdout=PIPE
    )
    assert other.stdin is not None and other.stdout is not None
    try:
        assert await other.stdout.readline() == b"locked\n"

        async def write() -> None:
            async with database.ephemeral(alone=alone) as connection:
                await connection.execute(text("INSERT INTO scratch VALUES (2)"))

        writing = asyncio.create_task(write())
        for _ in range(10):  # the write runs until it finds the lock taken
            await asyncio.sleep(0)
        other.stdin.write(b"commit\n")
        await other.stdin.drain()
        await writing
        assert await other.wait() == 0
        async with database.session() as session:
            assert (await session.execute(text("SELECT n FROM scratch"))).scalars().all() == [1, 2]
    finally:
        if other.returncode is None:
            other.kill()
            await other.wait()
        await database.dispose()


async def test_rows_stay_readable_after_their_connection_is_closed(database: Database) -> None:
    """As every asyncio driver of SQLAlchemy has it: a statement's rows are read when it runs."""
    async with database.ephemeral() as connection:
        await connection.execute(text("INSERT INTO scratch_counts VALUES (1, 1), (2, 2), (3, 3)"))
        # Left unread: the statement must have run to its end by the commit.
        await connection.execute(text("UPDATE scratch_counts SET n = n + 10 RETURNING task"))
    async with database.engine.connect() as connection:
        result = await connection.execute(text("SELECT task, n FROM scratch_counts ORDER BY task"))
    await database.engine.dispose()  # closes the pool's connections
    assert [tuple(row) for row in result.all()] == [(1, 11), (2, 12), (3, 13)]


async def test_a_statement_alone_runs_with_no_begin_or_commit_on_sqlite(sqlite_file: Path) -> None:
    database = Database(f"sqlite:///{sqlite_file}")
    ran: list[str] = []
    connect = sqlite3.connect

    def trace(statement: str) -> None:
        if not statement.startswith("PRAGMA"):  # those of every new connection
            ran.append(statement)

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = connect(*args, **kwargs)
        connection.set_trace_callback(trace)
        return connection

    try:
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE scratch (n INTEGER)"))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sqlite3, "connect", traced)
            async with database.ephemeral(alone=True) as connection:
                await connection.execute(text("INSERT INTO scratch VALUES (1) RETURNING n"))
            assert ran == ["INSERT INTO scratch VALUES (1) RETURNING n"]
            async with database.ephemeral() as connection:
                await connection.execute(text("INSERT INTO scratch VALUES (2)"))
            assert ran[1:] == ["BEGIN IMMEDIATE", "INSERT INTO scratch VALUES (2)", "COMMIT"]
        async with database.session() as session:
            assert (await session.execute(text("SELECT n FROM scratch"))).scalars().all() == [1, 2]
    finally:
        await database.dispose()
