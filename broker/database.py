"""The database: declarative base, the async engine and sessions, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from pydantic_core import to_json
from sqlalchemy import JSON, DateTime, MetaData, event
from sqlalchemy.engine import URL, CursorResult, Result, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, class_mapper, make_transient_to_detached
from sqlalchemy.sql import ClauseElement
from sqlalchemy.types import TypeDecorator

from broker import direct_sql, inline_sqlite
from broker.direct_sql import Answer, Statements

# Stable constraint names keep Alembic migrations identical on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use broker.database.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


_Model = TypeVar("_Model", bound=Base)


def detached(model: type[_Model], values: Mapping[str, Any]) -> _Model:
    """An ORM object of a row read directly (`values`: every column, and any relationship's objects), as a
    closed session leaves what it loaded: detached, nothing to flush. Made as the ORM's loading makes it, the
    values put in place without the constructor's attribute events, which cost four times the rest."""
    instance: _Model = class_mapper(model).class_manager.new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance


def json_text(value: Any) -> str:
    """A JSON column's text. pydantic-core's encoder writes it in a quarter of json.dumps's time (a registration
    flow writes a dozen documents); a value it cannot write as UTF-8 (a string holding a lone surrogate, which
    json.dumps escapes) is written by json.dumps. Either text reads back the same."""
    try:
        return to_json(value).decode()
    except ValueError:
        return json.dumps(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


def changed_rows(result: Result[*tuple[Any, ...]] | Answer) -> int:
    """How many rows an INSERT, UPDATE or DELETE changed. SQLAlchemy types every `execute()` answer as a
    `Result`; for these statements it is a `CursorResult`, the one that counts rows."""
    if isinstance(result, Answer):
        return result.rowcount
    if not isinstance(result, CursorResult):
        raise TypeError("only an INSERT, UPDATE or DELETE answers how many rows it changed")
    return result.rowcount


def json_time(value: datetime | None) -> str | None:
    """A time as the API, the CLI and webhooks show it: ISO-8601 in UTC with a `Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_ID_RANDOM_BITS = 64


class _IdClock:
    """Millisecond stamps and random tails that only grow within a process: two ids made in the same
    millisecond (or after the wall clock stepped back) keep the previous stamp and add one to its tail."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._millis = 0
        self._tail = 0

    def next(self) -> tuple[int, int]:
        millis = int(time.time() * 1000)
        with self._lock:
            if millis > self._millis:
                self._millis, self._tail = millis, secrets.randbits(_ID_RANDOM_BITS - 1)
            else:
                # Starting from a random tail below half its range, 2**63 ids fit in one millisecond.
                self._tail += 1
            return self._millis, self._tail


_id_clock = _IdClock()


def new_id(prefix: str) -> str:
    """A public identifier that sorts by creation time within a process (cursor pagination and every
    listing in creation order rely on it); across processes, ids of the same millisecond sort at random."""
    millis, tail = _id_clock.next()
    stamp = "".join(_ID_ALPHABET[(millis >> shift) & 31] for shift in range(45, -5, -5))
    return f"{prefix}_{stamp}{tail:016x}"


def async_url(database_url: str) -> URL:
    """The driver the app runs on: sqlite3 on the event loop's thread for SQLite (`broker.inline_sqlite`),
    psycopg 3 (async) for PostgreSQL."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername=inline_sqlite.DRIVER)
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def sync_url(database_url: str) -> URL:
    """The driver migrations run on."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    return url.set(drivername="sqlite")


# How long a SQLite statement waits for another connection's write lock before 'database is locked'. It waits
# asynchronously (`broker.inline_sqlite`): the loop goes on, and with it the transaction that holds the lock.
SQLITE_BUSY_TIMEOUT_MS = 5000
# A write transaction that still finds the lock taken after that tries again this many times, waiting
# LOCKED_BACKOFF, then twice as long, and so on: a burst of writers from other processes passes.
LOCKED_RETRIES = 3
LOCKED_BACKOFF = 0.1
# PostgreSQL connections of the direct statements (`Database.ephemeral()`, `Database.read()`), each kind, beside
# the engine's pool: a hot path's transaction holds one for a few statements.
POSTGRESQL_DIRECT_CONNECTIONS = 5


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN is turned off, so that `_sqlite_begin` decides how each transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Readers never wait for the writer, and the writer never waits for readers.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode, NORMAL skips the fsync of each commit: a commit survives the process being killed (it is in
    # the WAL file), and a power cut or an OS crash may lose the last commits, never corrupt the database.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_private_sqlite_file(database_url: str) -> None:
    """Creates a SQLite database file readable by its owner only, before SQLite would create it 0644.
    SQLite gives the -wal and -shm files the database file's permissions."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    try:
        os.close(os.open(url.database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return  # it exists, or SQLite will say in its own words why it cannot be opened


_WRITE = "broker_write_transaction"


def _sqlite_begin(connection: Any) -> None:
    # A write transaction takes SQLite's write lock at BEGIN (IMMEDIATE), so concurrent writers queue on
    # busy_timeout. A deferred one that reads first and writes later fails at once (SQLITE_BUSY, no waiting)
    # when another connection committed in between, which concurrent launches make common.
    immediate = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _is_locked(error: OperationalError) -> bool:
    return "database is locked" in str(error.orig)


class Database:
    """One engine and session factory per process."""

    def __init__(self, database_url: str) -> None:
        url = async_url(database_url)
        # Parameters hold secrets (encrypted or not), so statements in logs and errors never show them.
        options: dict[str, Any] = {
            "pool_pre_ping": url.get_backend_name() == "postgresql",
            "hide_parameters": True,
            "json_serializer": json_text,
        }
        if url.get_backend_name() == "postgresql":
            options.update(pool_size=10, max_overflow=10)
        else:
            options.update(connect_args={"lock_timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self._url = url
        if url.get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self._direct: direct_sql.SQLite | direct_sql.PostgreSQL | None = None
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._sqlite_writer = asyncio.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits together, or not at all. Never open one inside another: on SQLite
        this process's writers take turns (see `_write_turn`), so the inner one would wait for the outer.
        Keep it short, and never wait for anything but the database inside (no outbound call): on SQLite
        every other writer, in every process, waits for it."""
        async with self._write_turn():
            session = await self._write_session()
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            finally:
                await session.close()

    async def _write_session(self) -> AsyncSession:
        """A session that holds the write lock on SQLite (BEGIN IMMEDIATE), tried again a bounded number of
        times when other processes kept the lock past the busy timeout."""
        attempt = 0
        while True:
            session = self.sessions()
            try:
                await session.connection(execution_options={_WRITE: True})
                return session
            except OperationalError as error:
                await session.close()
                if not (self.is_sqlite and _is_locked(error)) or attempt == LOCKED_RETRIES:
                    raise
            await asyncio.sleep(LOCKED_BACKOFF * 2**attempt)
            attempt += 1

    def ephemeral(self, *, alone: bool = False) -> AbstractAsyncContextManager[Statements]:
        """Core statements that commit together, run directly on the driver's connection (`broker.direct_sql`),
        for writes on hot paths (launch states, limits, registration attempts), where an ORM session or even
        SQLAlchemy's Core execution would cost more than the statements. On SQLite the transaction begins with
        its first write (BEGIN IMMEDIATE), in the same call to the driver.

        `alone`: the statements need not commit together (there is one, or each stands on its own): on SQLite
        each is then a transaction of its own, atomic as SQLite makes every statement, with no BEGIN and no
        COMMIT to run; on PostgreSQL they still run in one transaction (its BEGIN and COMMIT cost no round trip
        of their own)."""
        return _Ephemeral(self, alone)

    async def read(self, statement: ClauseElement, parameters: Mapping[str, Any] | None = None) -> Answer:
        """One Core statement that only reads, run directly on the driver's connection, outside any transaction:
        for the hot paths' reads."""
        direct = self._direct or await self._open_direct()
        return await direct.read(statement, parameters)

    async def _open_direct(self) -> direct_sql.SQLite | direct_sql.PostgreSQL:
        # A first connection of the engine's initializes its dialect (the server's version and features), which
        # the statements are compiled for.
        async with self.engine.connect():
            pass
        dialect = self.engine.dialect
        args, options = dialect.create_connect_args(self._url)
        plans = direct_sql.Plans(dialect)
        if self.is_sqlite:

            def connect() -> sqlite3.Connection:
                options.pop("timeout", None)
                options.pop("check_same_thread", None)
                connection = sqlite3.connect(args[0], timeout=0, check_same_thread=False, **options)
                _sqlite_pragmas(connection, None)
                # sqlite3 opens a write transaction (BEGIN IMMEDIATE) with the first statement that writes, in
                # the same call: no separate BEGIN.
                connection.isolation_level = "IMMEDIATE"
                return connection

            self._direct = direct_sql.SQLite(connect, plans, SQLITE_BUSY_TIMEOUT_MS / 1000)
        else:
            import psycopg

            self._direct = direct_sql.PostgreSQL(
                lambda: psycopg.AsyncConnection.connect(*args, **options), plans, POSTGRESQL_DIRECT_CONNECTIONS
            )
        return self._direct

    @asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        # SQLite has one writer at a time, and its busy handler is not fair: under concurrent launches a waiting
        # writer can lose every race for the lock until busy_timeout fails it. This process's writers take
        # turns here instead, first come first served; PostgreSQL locks rows, so its writers run side by side.
        if not self.is_sqlite:
            yield
            return
        async with self._sqlite_writer:
            yield

    async def dispose(self) -> None:
        await self.engine.dispose()
        if isinstance(self._direct, direct_sql.SQLite):
            self._direct.close()
        elif self._direct is not None:
            await self._direct.close()
        self._direct = None


class _Ephemeral:
    """A transaction of `Database.ephemeral()`. An object with its two methods, where generator-made context
    managers (the write turn, the transaction, and the two together) cost each write about 25 Python calls
    more: a launch makes one or two such writes a request."""

    __slots__ = ("_alone", "_database", "_postgresql", "_statements")

    def __init__(self, database: Database, alone: bool) -> None:
        self._database = database
        self._alone = alone
        self._statements: direct_sql.SQLiteStatements | None = None
        self._postgresql: AbstractAsyncContextManager[Statements] | None = None

    async def __aenter__(self) -> Statements:
        database = self._database
        direct = database._direct or await database._open_direct()
        if isinstance(direct, direct_sql.PostgreSQL):
            # PostgreSQL locks rows, so its writers run side by side (see `_write_turn`).
            self._postgresql = direct.transaction()
            return await self._postgresql.__aenter__()
        # This process's SQLite writers take turns (`Database._write_turn`).
        await database._sqlite_writer.acquire()
        try:
            self._statements = direct.writer(alone=self._alone)
        except BaseException:
            database._sqlite_writer.release()
            raise
        return self._statements

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> bool | None:
        if self._postgresql is not None:
            return await self._postgresql.__aexit__(kind, error, traceback)
        statements = self._statements
        assert statements is not None
        try:
            if kind is not None:
                statements.rollback()
                return None
            try:
                await statements.commit()
            except BaseException:
                statements.rollback()
                raise
            return None
        finally:
            if self._alone:
                statements.settle()
            self._database._sqlite_writer.release()
