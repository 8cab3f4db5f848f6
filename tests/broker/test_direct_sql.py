"""Statements run directly on the driver (broker/direct_sql.py): what they store and read is what SQLAlchemy
stores and reads, on both engines; errors are SQLAlchemy's; a failed transaction leaves nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    cast,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from broker import database as database_module
from broker.database import Database, UTCDateTime, changed_rows, utcnow
from tests.conftest import POSTGRES_URL

from .test_database import hold_write_lock


class Colour(StrEnum):
    RED = "red"


metadata = MetaData()
things = Table(
    "scratch_things",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("colour", String(20)),
    Column("document", JSON),
    Column("listed", JSON),
    Column("at", UTCDateTime()),
    Column("flag", Boolean),
    Column("ratio", Float),
    Column("count", Integer, default=7),
    Column("made_at", UTCDateTime(), default=utcnow),
    Column("touched_at", UTCDateTime(), onupdate=utcnow),
)
_INSERT = insert(things)
_SELECT = select(things).where(things.c.id == bindparam("id"))
_RAW = select(*(cast(column, String).label(column.name) for column in things.c if column.name != "id")).where(
    things.c.id == bindparam("id")
)
_RENAME = update(things).where(things.c.colour == bindparam("old")).values(colour=bindparam("new"))
_COUNT = select(func.count()).select_from(things)

VALUES: dict[str, Any] = {
    "colour": Colour.RED,
    "document": {"é": ["ü", 1, 2.5, None, True], "nested": {"a": "</script>"}},
    "listed": None,
    "at": datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=timezone(timedelta(hours=-5))),
    "flag": True,
    "ratio": 0.1,
}


@pytest_asyncio.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)
    yield database
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
    await database.dispose()


async def stored(database: Database, thing_id: str) -> tuple[Any, ...]:
    """The row as the database holds it, each value as text."""
    async with database.engine.connect() as connection:
        return tuple((await connection.execute(_RAW, {"id": thing_id})).one())


async def test_values_are_stored_and_read_as_sqlalchemy_stores_and_reads_them(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(_INSERT, {"id": "orm", **VALUES})
    async with database.ephemeral() as statements:
        await statements.execute(_INSERT, {"id": "direct", **VALUES})
    by_sqlalchemy, directly = await stored(database, "orm"), await stored(database, "direct")
    # Only the defaults' times differ (made a moment apart).
    assert by_sqlalchemy[:-3] == directly[:-3]
    assert (by_sqlalchemy[-3], by_sqlalchemy[-1], directly[-1]) == ("7", None, None)

    async with database.engine.connect() as connection:
        expected = (await connection.execute(_SELECT, {"id": "direct"})).one()
    read = (await database.read(_SELECT, {"id": "direct"})).first()
    async with database.ephemeral() as statements:
        in_transaction = (await statements.execute(_SELECT, {"id": "direct"})).first()
    assert tuple(read) == tuple(in_transaction) == tuple(expected)
    assert read.at == VALUES["at"] and read.at.tzinfo is not None and read.made_at.tzinfo is not None
    assert read.document == VALUES["document"] and read.flag is True


async def test_json_documents_read_back_as_written_even_strings_that_utf8_cannot_hold(database: Database) -> None:
    # A platform's JSON may escape half of a surrogate pair: the text then holds a lone surrogate.
    document = {"name": "Lone \ud800 half", "nested": [{"é": 1.5}, None, 10**30]}
    async with database.ephemeral() as statements:
        await statements.execute(_INSERT, {"id": "one", **VALUES, "document": document})
    async with database.engine.begin() as connection:
        await connection.execute(_INSERT, {"id": "two", **VALUES, "document": document})
    for thing_id in ("one", "two"):
        assert (await database.read(_SELECT, {"id": thing_id})).first().document == document


async def test_an_update_sets_the_columns_onupdate_default_and_counts_its_rows(database: Database) -> None:
    async with database.ephemeral() as statements:
        await statements.execute(_INSERT, [{"id": f"t{n}", **VALUES} for n in range(3)])
    before = utcnow()
    async with database.ephemeral() as statements:
        renamed = await statements.execute(_RENAME, {"old": "red", "new": "blue"})
        unchanged = await statements.execute(_RENAME, {"old": "red", "new": "green"})
    assert (renamed.rowcount, changed_rows(unchanged)) == (3, 0)
    rows = (await database.read(select(things.c.colour, things.c.touched_at).order_by(things.c.id))).all()
    assert [row.colour for row in rows] == ["blue"] * 3
    assert all(row.touched_at >= before for row in rows)
    assert (await database.read(_COUNT)).scalar() == 3


async def test_a_failed_statement_raises_sqlalchemys_error_and_rolls_back_its_transaction(
    database: Database,
) -> None:
    async with database.ephemeral() as statements:
        await statements.execute(_INSERT, {"id": "kept", **VALUES})
    with pytest.raises(IntegrityError) as raised:
        async with database.ephemeral() as statements:
            await statements.execute(_INSERT, {"id": "new", **VALUES})
            await statements.execute(_INSERT, {"id": "kept", **VALUES})
    # Parameters hold secrets: errors never show them.
    assert "</script>" not in str(raised.value)
    assert (await database.read(_COUNT)).scalar() == 1
    # The connection goes on serving after the failure.
    async with database.ephemeral() as statements:
        await statements.execute(_INSERT, {"id": "new", **VALUES})
        assert await statements.scalars(select(things.c.id).order_by(things.c.id)) == ["kept", "new"]


async def test_an_error_of_a_transactions_first_statement_is_raised_by_it_and_the_connection_serves_on(
    database: Database,
) -> None:
    # On PostgreSQL the first statement goes with the transaction's BEGIN, in one round trip.
    async with database.ephemeral() as statements:
        await statements.execute(_INSERT, {"id": "kept", **VALUES})
    with pytest.raises(IntegrityError):
        async with database.ephemeral() as statements:
            await statements.execute(_INSERT, {"id": "kept", **VALUES})
    async with database.ephemeral() as statements:
        await statements.execute(_INSERT, {"id": "new", **VALUES})
    assert (await database.read(_COUNT)).scalar() == 2


async def test_deferred_writes_run_before_the_next_statement_and_commit_with_the_transaction(
    database: Database,
) -> None:
    async with database.ephemeral() as statements:
        await statements.defer(_INSERT, [{"id": f"t{n}", **VALUES} for n in range(3)])
        await statements.defer(_RENAME, {"old": "red", "new": "blue"})
        assert await statements.scalars(select(things.c.colour)) == ["blue"] * 3
        await statements.defer(_INSERT, {"id": "last", **VALUES})
        assert (await database.read(_COUNT)).scalar() == 0
    assert (await database.read(_COUNT)).scalar() == 4
    async with database.ephemeral() as statements:  # nothing but deferred writes: they commit too
        await statements.defer(_RENAME, {"old": "red", "new": "green"})
    assert (await database.read(select(things.c.colour).where(things.c.id == "last"))).scalar() == "green"


async def test_a_deferred_write_that_fails_is_raised_by_the_next_statement_or_the_commit_and_nothing_commits(
    database: Database,
) -> None:
    async with database.ephemeral() as statements:
        await statements.execute(_INSERT, {"id": "kept", **VALUES})
    # On SQLite a deferred write runs at once: `defer` itself raises its error.
    passed = []
    with pytest.raises(IntegrityError) as raised:
        async with database.ephemeral() as statements:
            await statements.execute(_INSERT, {"id": "new", **VALUES})
            await statements.defer(_INSERT, {"id": "kept", **VALUES})
            passed.append("defer")  # then the commit raises it
    assert "</script>" not in str(raised.value)
    with pytest.raises(IntegrityError):
        async with database.ephemeral() as statements:
            await statements.defer(_INSERT, {"id": "new", **VALUES})
            await statements.defer(_INSERT, {"id": "kept", **VALUES})
            passed.append("defer")
            await statements.execute(_RENAME, {"old": "red", "new": "blue"})
            passed.append("the statement after")
    assert passed == ([] if database.is_sqlite else ["defer", "defer"])
    assert (await database.read(select(things.c.id, things.c.colour))).all() == [("kept", "red")]
    async with database.ephemeral() as statements:
        await statements.defer(_INSERT, {"id": "new", **VALUES})
    assert (await database.read(_COUNT)).scalar() == 2


async def test_reads_never_see_a_transaction_before_it_commits(database: Database) -> None:
    async with database.ephemeral() as statements:
        await statements.execute(_INSERT, {"id": "one", **VALUES})
        assert (await database.read(_COUNT)).scalar() == 0
    assert (await database.read(_COUNT)).scalar() == 1


async def test_a_read_never_sees_the_writes_of_a_transaction_suspended_before_its_commit(database: Database) -> None:
    wrote, read = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with database.ephemeral() as statements:
            await statements.execute(_INSERT, {"id": "one", **VALUES})
            wrote.set()
            await read.wait()  # another coroutine reads while this transaction is open

    async with database.ephemeral() as statements:
        await statements.execute(_INSERT, {"id": "before", **VALUES})
    writing = asyncio.create_task(writer())
    await wrote.wait()
    assert (await database.read(select(things.c.id))).scalars() == ["before"]
    read.set()
    await writing
    assert (await database.read(_COUNT)).scalar() == 2


async def test_a_read_sees_what_another_process_committed(database: Database) -> None:
    async with database.ephemeral() as statements:
        await statements.execute(_INSERT, {"id": "ours", **VALUES})
    assert (await database.read(_COUNT)).scalar() == 1
    if database.is_sqlite:
        other = sqlite3.connect(database.engine.url.database or "")
        with other:
            other.execute("INSERT INTO scratch_things (id) VALUES ('theirs')")
        other.close()
    else:
        async with database.engine.begin() as connection:
            await connection.execute(insert(things), {"id": "theirs"})
    assert (await database.read(_COUNT)).scalar() == 2


async def test_concurrent_transactions_all_commit(database: Database) -> None:
    async def writer(task: int) -> None:
        for n in range(10):
            async with database.ephemeral() as statements:
                await statements.execute(_INSERT, {"id": f"{task}-{n}", **VALUES})
                await asyncio.sleep(0)
                await statements.execute(_RENAME, {"old": "nothing", "new": "else"})

    await asyncio.gather(*(writer(task) for task in range(6)))
    assert (await database.read(_COUNT)).scalar() == 60


async def test_a_sqlite_write_waits_for_the_lock_without_blocking_the_loop_then_fails_past_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "broker.db"
    database = Database(f"sqlite:///{path}")
    try:
        async with database.ephemeral() as statements:
            await statements.execute(text("CREATE TABLE scratch (n INTEGER)"))
        holder = hold_write_lock(path)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticking = asyncio.create_task(tick())
        try:
            with pytest.raises(OperationalError, match="database is locked"):
                async with database.ephemeral() as statements:
                    await statements.execute(text("INSERT INTO scratch VALUES (1)"))
            assert ticks > 1  # the loop went on while the write waited
            asyncio.get_running_loop().call_later(0.05, holder.commit)
            async with database.ephemeral() as statements:
                await statements.execute(text("INSERT INTO scratch VALUES (2)"))
        finally:
            ticking.cancel()
            holder.close()
        assert (await database.read(text("SELECT n FROM scratch"))).scalars() == [2]
    finally:
        await database.dispose()


async def test_a_sqlite_transaction_locked_before_it_writes_keeps_other_writers_out_until_it_ends(
    tmp_path: Path,
) -> None:
    path = tmp_path / "broker.db"
    database = Database(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0)
    try:
        async with database.ephemeral() as statements:
            await statements.execute(text("CREATE TABLE scratch (n INTEGER)"))
        async with database.ephemeral() as statements:
            await statements.lock()
            await statements.lock()  # held already: nothing more to take
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("INSERT INTO scratch VALUES (1)")
            other.rollback()
            await statements.execute(text("INSERT INTO scratch VALUES (2)"))
        async with database.ephemeral() as statements:
            await statements.execute(text("INSERT INTO scratch VALUES (3)"))
            await statements.lock()  # it wrote, so it holds the lock already
        other.execute("INSERT INTO scratch VALUES (4)")
        other.commit()
        assert (await database.read(text("SELECT n FROM scratch ORDER BY n"))).scalars() == [2, 3, 4]
    finally:
        other.close()
        await database.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="a PostgreSQL connection: set BROKER_TEST_DATABASE_URL")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("deferred_only", [False, True], ids=["statements", "deferred writes only"])
async def test_a_postgresql_connection_lost_while_idle_is_replaced(database: Database, deferred_only: bool) -> None:
    async with database.ephemeral() as statements:
        backend = await statements.scalar(text("SELECT pg_backend_pid()"))
    async with database.engine.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    await asyncio.sleep(0.1)
    async with database.ephemeral() as statements:
        if deferred_only:  # the first round trip, made again on a new connection, then the COMMIT's
            await statements.defer(_INSERT, {"id": "after", **VALUES})
        else:
            await statements.execute(_INSERT, {"id": "after", **VALUES})
            assert await statements.scalar(text("SELECT pg_backend_pid()")) != backend
    assert (await database.read(_COUNT)).scalar() == 1


class _RefusingConnection(sqlite3.Connection):
    """A connection whose cursors SQLite refuses the next read once (SQLITE_BUSY), as when another process holds
    the database exclusively for a moment."""

    refuse_next_read = False

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:
        return super().cursor(factory or _RefusingCursor)


class _RefusingCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if _RefusingConnection.refuse_next_read and sql.lstrip().upper().startswith("SELECT"):
            _RefusingConnection.refuse_next_read = False
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
            raise error
        return super().execute(sql, parameters)


async def test_a_sqlite_read_refused_for_a_moment_never_sees_a_transaction_begun_while_it_waited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect = sqlite3.connect

    def refusing_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", _RefusingConnection)
        refusing: sqlite3.Connection = connect(*args, **kwargs)
        return refusing

    monkeypatch.setattr(sqlite3, "connect", refusing_connect)
    database = Database(f"sqlite:///{tmp_path / 'broker.db'}")
    try:
        async with database.ephemeral() as statements:
            await statements.execute(text("CREATE TABLE scratch (n INTEGER)"))
            await statements.execute(text("INSERT INTO scratch VALUES (1)"))
        _RefusingConnection.refuse_next_read = True
        reading = asyncio.create_task(database.read(text("SELECT n FROM scratch")))
        await asyncio.sleep(0)  # the read starts, and SQLite refuses it once
        async with database.ephemeral() as statements:
            await statements.execute(text("INSERT INTO scratch VALUES (2)"))
            assert (await reading).scalars() == [1]  # read while this transaction is open: not its row
        assert (await database.read(text("SELECT n FROM scratch ORDER BY n"))).scalars() == [1, 2]
    finally:
        _RefusingConnection.refuse_next_read = False
        await database.dispose()


async def test_a_sqlite_write_sent_as_a_read_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'broker.db'}")
    try:
        async with database.ephemeral() as statements:
            await statements.execute(text("CREATE TABLE scratch (n INTEGER)"))
        # The write connection holds no transaction, so the read would run there: a write must not stay open.
        with pytest.raises(TypeError, match="only read"):
            await database.read(text("INSERT INTO scratch VALUES (1)"))
        async with database.ephemeral() as statements:
            await statements.execute(text("INSERT INTO scratch VALUES (2)"))
        assert (await database.read(text("SELECT n FROM scratch"))).scalars() == [2]
    finally:
        await database.dispose()


async def test_a_statement_of_given_values_only_stores_them_as_sqlalchemy_does(database: Database) -> None:
    """Every parameter one of the caller's values (none a default or fixed): fetched at once, then converted."""
    given = {**VALUES, "count": 3, "made_at": VALUES["at"], "touched_at": None}
    statement = insert(things).values({name: bindparam(name) for name in ("id", *given)})
    async with database.engine.begin() as connection:
        await connection.execute(statement, {"id": "orm", **given})
    async with database.ephemeral() as statements:
        await statements.execute(statement, {"id": "direct", **given})
        await statements.execute(statement, [{"id": f"many{n}", **given} for n in range(2)])
    assert await stored(database, "orm") == await stored(database, "direct") == await stored(database, "many1")
    renamed = update(things).where(things.c.id == bindparam("thing")).values(colour=bindparam("to"))
    async with database.ephemeral() as statements:
        assert (await statements.execute(renamed, {"thing": "direct", "to": "blue"})).rowcount == 1
    assert (await database.read(select(things.c.colour).where(things.c.id == "direct"))).scalar() == "blue"
