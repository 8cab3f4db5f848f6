"""SQLite for SQLAlchemy's asyncio engine, each call to sqlite3 made on the event loop's thread.

aiosqlite hands every call to a thread of its own and waits for the answer (about 50 µs a call, most of what a
short transaction cost); the statements of this application take SQLite a few microseconds, so here they run
where they are awaited, and an `await` on a statement completes without leaving the thread. SQLAlchemy's asyncio
layer calls a driver from a greenlet, so a call can still await when it must: here, only to wait for a lock.

The one thing that must not happen on the loop's thread is waiting for a lock: in SQLite's busy handler, the loop
would stand still while the connection holding the write lock (a coroutine of this process suspended between
its statements, which needs the loop to finish) could not commit. So these connections never wait inside SQLite
(busy timeout 0): a call refused with SQLITE_BUSY is made again after an `asyncio.sleep`, with the delays of
SQLite's own busy handler, until `lock_timeout` is spent, and then fails as SQLite would, 'database is locked'.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util.concurrency import await_only, in_greenlet

DRIVER = "sqlite+inline"

# SQLITE_BUSY, and the same while another connection recovers the WAL index. Not SQLITE_BUSY_SNAPSHOT: a read
# transaction that saw an older database cannot write, however long it waits (SQLite does not wait either).
_BUSY_CODES = frozenset((sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_RECOVERY))
# The delays of SQLite's own busy handler (sqliteDefaultBusyCallback), then its last one again and again.
_DELAYS = (0.001, 0.002, 0.005, 0.010, 0.015, 0.020, 0.025, 0.025, 0.025, 0.050, 0.050, 0.100)

_T = TypeVar("_T")


def is_busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in _BUSY_CODES


def _delays() -> Iterator[float]:
    return itertools.chain(_DELAYS, itertools.repeat(_DELAYS[-1]))


def _waits(lock_timeout: float) -> Iterator[float]:
    """The waits before each new try of a refused call, until `lock_timeout` is spent."""
    deadline = time.monotonic() + lock_timeout
    for delay in _delays():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        yield min(delay, remaining)


def _again_when_free(refused: sqlite3.OperationalError, lock_timeout: float, call: Callable[[], _T]) -> _T:
    """`when_free` awaited from SQLAlchemy's greenlet."""
    # Outside SQLAlchemy's greenlet nothing could await the wait: answer as SQLite would have.
    if not in_greenlet():
        raise refused
    return await_only(when_free(refused, lock_timeout, call))


async def when_free(refused: sqlite3.OperationalError, lock_timeout: float, call: Callable[[], _T]) -> _T:
    """`call`, refused once with SQLITE_BUSY, made again after asynchronous waits until it is not refused or
    `lock_timeout` is spent. A refused call changed nothing: SQLite gives up before it takes the lock."""
    for wait in _waits(lock_timeout):
        await asyncio.sleep(wait)
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
            refused = error
    raise refused


class _Answered(Awaitable[None]):
    """An awaitable that completes at once, without giving the loop a turn."""

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()


_ANSWERED = _Answered()


def _awaited() -> None:
    # SQLAlchemy's AsyncConnection checks that each statement awaited something, to catch a driver that would
    # block the loop; a statement here awaits an answer that is already there (a greenlet switch each way).
    if in_greenlet():
        await_only(_ANSWERED)


class InlineCursor(sqlite3.Cursor):
    """A sqlite3 cursor whose statements wait for a busy database without blocking the loop, and which reads a
    statement's rows as it runs, as SQLAlchemy's other asyncio drivers do: a result stays readable after its
    connection went back to the pool, and a statement with RETURNING is finished before the commit."""

    connection: InlineConnection
    _rows: deque[Any] = deque()

    def execute(self, sql: str, parameters: Any = (), /) -> InlineCursor:
        return self._run(super().execute, sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> InlineCursor:
        # A list, since an iterator would be spent by an attempt SQLite refused.
        return self._run(super().executemany, sql, list(seq_of_parameters))

    def _run(self, method: Callable[[str, Any], object], sql: str, parameters: Any) -> InlineCursor:
        _awaited()
        try:
            method(sql, parameters)
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
            _again_when_free(error, self.connection.lock_timeout, lambda: method(sql, parameters))
        self._rows = deque(super().fetchall()) if self.description is not None else deque()
        return self

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(self.arraysize if size is None else size, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __next__(self) -> Any:
        if not self._rows:
            raise StopIteration
        return self._rows.popleft()

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's asyncio layer calls this after each statement so that a driver can let the cursor go
        while its rows stay readable; here they are read already, and nothing is left to let go."""


class InlineConnection(sqlite3.Connection):
    """A sqlite3 connection whose cursors are `InlineCursor`s and whose commit waits like their statements."""

    lock_timeout: float = 5.0

    def cursor(self, factory: Any = InlineCursor) -> InlineCursor:  # type: ignore[override]
        return super().cursor(factory)  # type: ignore[no-any-return]

    # sqlite3's own shortcuts open a plain cursor, bypassing `cursor()`.
    def execute(self, sql: str, parameters: Any = (), /) -> InlineCursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> InlineCursor:
        return self.cursor().executemany(sql, seq_of_parameters)

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
            _again_when_free(error, self.lock_timeout, super().commit)


def connect(database: str, *, lock_timeout: float = 5.0, **options: Any) -> InlineConnection:
    """A connection that never waits inside SQLite, and waits up to `lock_timeout` seconds for a lock."""
    options.pop("timeout", None)
    connection = sqlite3.connect(database, timeout=0, factory=InlineConnection, **options)
    connection.lock_timeout = lock_timeout
    return connection


class _DBAPI:
    """sqlite3 as SQLAlchemy's dialect sees it, with `connect` opening inline connections."""

    paramstyle = "qmark"
    connect = staticmethod(connect)

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    """The pysqlite dialect (SQL, types, transactions as SQLite has them), used by the asyncio engine."""

    driver = "inline"
    is_async = True
    supports_statement_cache = True
    # Closing a connection is a call like any other, so the pool may close one it finds unreturned too.
    has_terminate = True

    @classmethod
    def import_dbapi(cls) -> Any:
        return _DBAPI()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool

    def do_terminate(self, dbapi_connection: Any) -> None:
        dbapi_connection.close()


registry.register(DRIVER.replace("+", "."), __name__, InlineSQLiteDialect.__name__)
