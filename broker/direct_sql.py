"""Core statements run directly on the driver's connection, for the hot paths' short transactions and reads.

Each statement is compiled once per dialect and set of parameter names, with what SQLAlchemy would do at each
execution worked out then: the parameters' order and names, the column types' bind processing (JSON, times,
the columns' Python defaults) and the rows' result processing. A statement then costs the driver call and those
conversions, without SQLAlchemy's per-execution machinery (a greenlet hop each way, the pool's events, the
compiled cache's look-up, a result object). What is stored is what SQLAlchemy stores: the same dialect compiles
the SQL and the same type objects convert the values (tests/broker/test_direct_sql.py compares them).

SQLite's calls are made on the event loop's thread, as `broker.inline_sqlite` makes them, and never wait inside
SQLite (busy timeout 0): a call refused with SQLITE_BUSY is made again after an `asyncio.sleep`. PostgreSQL's
go through psycopg's async connections, from a pool of this module's own; a round trip there carries what it can
in libpq's pipeline mode (a transaction's BEGIN with its first statement, deferred writes with the statement
after them or with the COMMIT), and is answered whole, its first error raised, before its call returns.
"""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from weakref import WeakKeyDictionary

from sqlalchemy import exc, text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from broker import inline_sqlite

if TYPE_CHECKING:
    import psycopg

Parameters = Mapping[str, Any]


class Answer:
    """What a statement answered: its rows, read as it ran, and the rows it changed (an INSERT, UPDATE or
    DELETE's count, as the driver gives it)."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def all(self) -> list[Any]:
        return list(self.rows)

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)


# Where a parameter's value comes from: the caller's values, a value fixed in the statement, a column's default.
_GIVEN, _FIXED, _DEFAULT = 0, 1, 2


class _Bind(NamedTuple):
    name: str  # as the SQL names it (pyformat), or the caller's key (qmark: by position)
    source: int
    value: Any  # the caller's key, the fixed value (processed already), or the default's function
    process: Callable[[Any], Any] | None


class Plan:
    """One statement compiled for one dialect and one set of parameter names."""

    __slots__ = ("_binds", "_columns", "_fetch", "_positional", "_processes", "_readers", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if not isinstance(compiled, SQLCompiler):
            raise TypeError("only SQL statements run directly")
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("statements with expanding or literal parameters are not run directly")
        self.sql: str = compiled.string
        self._positional = compiled.positional
        processors = compiled._bind_processors
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        defaults: dict[str, Callable[[], Any]] = {}
        for column in compiled.insert_prefetch or compiled.update_prefetch:
            described = (
                column._default_description_tuple if compiled.insert_prefetch else column._onupdate_description_tuple
            )
            arg, is_scalar, is_callable, is_sentinel = described
            key = compiled._within_exec_param_key_getter(column)
            if is_scalar:
                defaults[key] = (lambda value: lambda: value)(arg)
            elif is_callable and not is_sentinel:
                defaults[key] = (lambda function: lambda: function(None))(arg)
            else:
                raise ValueError(f"the default of {column} is not run directly")
        order = compiled.positiontup if compiled.positional else list(by_name)
        binds = []
        given = set(keys)
        for name in order or ():
            bind = by_name[name]
            process: Callable[[Any], Any] | None = processors.get(name)  # type: ignore[assignment]
            sql_name = compiled.escaped_bind_names.get(name, name)
            if name in defaults:
                binds.append(_Bind(sql_name, _DEFAULT, defaults[name], process))
            elif bind.key in given:
                binds.append(_Bind(sql_name, _GIVEN, bind.key, process))
            elif name in given:
                binds.append(_Bind(sql_name, _GIVEN, name, process))
            elif bind.required:
                raise exc.InvalidRequestError(f"A value is required for bind parameter {bind.key!r}")
            elif bind.callable:
                binds.append(_Bind(sql_name, _DEFAULT, bind.callable, process))
            else:
                binds.append(_Bind(sql_name, _FIXED, process(bind.value) if process else bind.value, None))
        self._binds = tuple(binds)
        # When every parameter is one of the caller's values (a hot path's statements are built so), they are
        # fetched by one itemgetter, in C, and only those whose type processes them are then converted: a loop
        # over the parameters cost a launch's statement about ten Python calls more.
        given_only = len(binds) > 1 and all(bind.source == _GIVEN for bind in binds)
        self._fetch = itemgetter(*(bind.value for bind in binds)) if given_only else None
        self._processes = tuple((i, process) for i, bind in enumerate(binds) if (process := bind.process) is not None)
        self._columns = [(entry.keyname, entry.type) for entry in compiled._result_columns]
        # The rows' reader, by the driver's description of its columns (their type codes, for PostgreSQL).
        self._readers: dict[tuple[Any, ...], Callable[[list[Any]], list[Any]]] = {}

    def parameters(self, values: Parameters) -> Any:
        """The driver's parameters for the caller's `values`."""
        if self._fetch is not None:
            fetched = self._fetch(values)
            if self._processes:
                fetched = list(fetched)
                for i, convert in self._processes:
                    fetched[i] = convert(fetched[i])
            if self._positional:
                return fetched
            return {bind.name: value for bind, value in zip(self._binds, fetched, strict=True)}
        converted = []
        for _name, source, value, process in self._binds:
            if source == _GIVEN:
                value = values[value]
            elif source == _DEFAULT:
                value = value()
            converted.append(process(value) if process is not None else value)
        if self._positional:
            return converted
        return {bind.name: value for bind, value in zip(self._binds, converted, strict=True)}

    def rows(
        self, raw: list[Any], types: tuple[Any, ...], description: Callable[[], Sequence[Any]], dialect: Dialect
    ) -> list[Any]:
        """The driver's rows, each converted by its column's type, as named tuples. `types`: the columns' type
        codes as the driver gives them; `description`, its description of the columns, asked for only to make
        the reader of a new set of types."""
        reader = self._readers.get(types)
        if reader is None:
            reader = self._readers[types] = self._reader(description(), dialect)
        return reader(raw)

    def _reader(self, description: Sequence[Any], dialect: Dialect) -> Callable[[list[Any]], list[Any]]:
        if self._columns and len(self._columns) == len(description):
            names = [name for name, _ in self._columns]
            processors = [
                type_._cached_result_processor(dialect, column[1])
                for (_, type_), column in zip(self._columns, description, strict=True)
            ]
        else:  # textual SQL: the driver's values as they come
            names = [column[0] for column in description]
            processors = [None] * len(description)
        row_type: Any = NamedTuple("Row", [(name, Any) for name in _field_names(names)])  # type: ignore[misc]
        # The named tuple's `_make` without its Python layer (a call a row), which checks a length the driver's
        # rows always have.
        make = partial(tuple.__new__, row_type)
        if not any(processors):
            return lambda raw: list(map(make, raw))
        pairs = list(enumerate(processors))

        def read(raw: list[Any]) -> list[Any]:
            return [
                make([process(row[i]) if process is not None else row[i] for i, process in pairs]) for row in raw
            ]

        return read


def _field_names(names: Sequence[str]) -> list[str]:
    """Names a named tuple takes: a column without one (an expression) or named twice is known by position."""
    fields, seen = [], set()
    for i, name in enumerate(names):
        if not name.isidentifier() or name.startswith("_") or name in seen:
            name = f"_column{i}"
        seen.add(name)
        fields.append(name)
    return fields


class Plans:
    """The plans of one dialect, kept as long as their statement is: statements are built once, at import."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._plans: WeakKeyDictionary[ClauseElement, dict[tuple[str, ...], Plan]] = WeakKeyDictionary()

    def plan(self, statement: ClauseElement, values: Parameters) -> Plan:
        keys = tuple(values)
        try:
            return self._plans[statement][keys]
        except KeyError:
            plan = Plan(statement, self.dialect, sorted(keys))
            self._plans.setdefault(statement, {})[keys] = plan
            return plan


class Statements(Protocol):
    """A transaction's statements (`Database.ephemeral()`): they commit together, or not at all."""

    async def execute(
        self, statement: ClauseElement, parameters: Parameters | Sequence[Parameters] | None = None
    ) -> Answer:
        """Runs `statement` with `parameters` (with a list of them: once for each, answering no rows)."""
        ...

    async def scalar(self, statement: ClauseElement, parameters: Parameters | None = None) -> Any:
        """The first column of the first row, or None."""
        ...

    async def scalars(self, statement: ClauseElement, parameters: Parameters | None = None) -> list[Any]:
        """The first column of every row."""
        ...

    async def defer(
        self, statement: ClauseElement, parameters: Parameters | Sequence[Parameters] | None = None
    ) -> None:
        """Runs a write whose answer nobody reads. On PostgreSQL it goes to the server with the transaction's
        next statement, or with its COMMIT, in the same round trip, and its error is raised by that call (the
        transaction then rolls back, as after any error); on SQLite it runs now."""
        ...

    async def lock(self) -> None:
        """Makes what the transaction reads next stay as read until it commits: on SQLite, its write lock
        taken now unless it holds it already; on PostgreSQL, nothing (its reads lock rows with FOR UPDATE)."""
        ...


def _driver_error(error: Exception, plan: Plan, dialect: Dialect, many: bool) -> exc.DBAPIError:
    """The driver's error as SQLAlchemy raises it (IntegrityError, OperationalError…), without its parameters."""
    dbapi: Any = dialect.loaded_dbapi
    wrapped = exc.DBAPIError.instance(
        plan.sql, None, error, dbapi.Error, hide_parameters=True, dialect=dialect, ismulti=many
    )
    assert isinstance(wrapped, exc.DBAPIError)
    return wrapped


def _prepared(
    plans: Plans, statement: ClauseElement, parameters: Parameters | Sequence[Parameters] | None
) -> tuple[Plan, bool, list[Any]]:
    """The statement's plan, whether it runs once for each of several parameter sets, and the driver's sets."""
    # A dict asked first: it is no Sequence, and telling so takes the ABC's check a Python call.
    if parameters is None or isinstance(parameters, dict) or not isinstance(parameters, Sequence):
        values: Parameters = parameters or {}
        plan = plans.plan(statement, values)
        return plan, False, [plan.parameters(values)]
    plan = plans.plan(statement, parameters[0] if parameters else {})
    return plan, True, [plan.parameters(values) for values in parameters]


class _Statements(ABC):
    """What both engines' statements share: `scalar` and `scalars` are read from `execute`'s answer."""

    @abstractmethod
    async def execute(
        self, statement: ClauseElement, parameters: Parameters | Sequence[Parameters] | None = None
    ) -> Answer: ...

    async def scalar(self, statement: ClauseElement, parameters: Parameters | None = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def scalars(self, statement: ClauseElement, parameters: Parameters | None = None) -> list[Any]:
        return (await self.execute(statement, parameters)).scalars()

    async def defer(
        self, statement: ClauseElement, parameters: Parameters | Sequence[Parameters] | None = None
    ) -> None:
        await self.execute(statement, parameters)


class Refused(Exception):
    """A statement SQLite refused at once (SQLITE_BUSY: another process holds a lock), not made again."""


# The write lock of a SQLite transaction that has not written yet (the connection begins IMMEDIATE otherwise).
_BEGIN_WRITING = text("BEGIN IMMEDIATE")


class SQLiteStatements(_Statements):
    """Statements on a sqlite3 connection, made on the event loop's thread."""

    def __init__(self, connection: sqlite3.Connection, plans: Plans, lock_timeout: float) -> None:
        self._connection = connection
        self._begins = connection.isolation_level
        self._cursor = connection.cursor()
        self._plans = plans
        self._lock_timeout = lock_timeout

    async def execute(
        self,
        statement: ClauseElement,
        parameters: Parameters | Sequence[Parameters] | None = None,
        *,
        wait: bool = True,
    ) -> Answer:
        """Runs `statement`; refused by a lock another process holds, it is made again once it is free, or with
        `wait` False raises `Refused` at once."""
        plan, many, converted = _prepared(self._plans, statement, parameters)
        cursor = self._cursor
        if many:
            call: Callable[[], object] = lambda: cursor.executemany(plan.sql, converted)  # noqa: E731
        else:
            call = lambda: cursor.execute(plan.sql, converted[0])  # noqa: E731
        try:
            try:
                call()
            except sqlite3.OperationalError as error:
                if not inline_sqlite.is_busy(error):
                    raise
                if not wait:
                    raise Refused from error
                await inline_sqlite.when_free(error, self._lock_timeout, call)
            description = cursor.description
            raw = cursor.fetchall() if description is not None else []
        except sqlite3.Error as error:
            raise _driver_error(error, plan, self._plans.dialect, many) from error
        if description is None:
            return Answer([], cursor.rowcount)
        types = (None,) * len(description)  # sqlite3 gives no type codes
        return Answer(plan.rows(raw, types, lambda: description, self._plans.dialect), cursor.rowcount)

    async def lock(self) -> None:
        """Takes the write lock now, unless the transaction holds it already: it wrote."""
        if not self._connection.in_transaction:
            await self.execute(_BEGIN_WRITING)

    async def commit(self) -> None:
        try:
            self._connection.commit()
        except sqlite3.OperationalError as error:
            if not inline_sqlite.is_busy(error):
                raise
            await inline_sqlite.when_free(error, self._lock_timeout, self._connection.commit)

    def rollback(self) -> None:
        self._connection.rollback()

    def alone(self) -> None:
        """Each statement from now on commits on its own (sqlite3 begins no transaction before it), until `settle`."""
        self._connection.isolation_level = None

    def settle(self) -> None:
        """Statements begin a transaction again, as the connection was opened to (after `alone`)."""
        self._connection.isolation_level = self._begins


class SQLite:
    """The direct connections of one SQLite database: one for this process's write transactions (they take
    turns: `Database._write_turn`), one for reads, which never open a transaction and so never hold a lock
    across an await. A read goes to the write connection when it holds no transaction: SQLite keeps that
    connection's page cache across its own commits, where the read connection's is dropped whenever another
    connection committed (the pages a read needs are then read again from the file)."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], plans: Plans, lock_timeout: float) -> None:
        self._connect = connect
        self._plans = plans
        self._lock_timeout = lock_timeout
        self._writer: SQLiteStatements | None = None
        self._reader: SQLiteStatements | None = None

    def writer(self, *, alone: bool = False) -> SQLiteStatements:
        """The write connection's statements, for a transaction of a caller that holds this process's write turn
        and ends it (`commit` or `rollback`, then `settle`). The write lock is taken by the first statement that
        writes (the connection begins IMMEDIATE), in the same call. `alone`: each statement is a transaction of
        its own, which SQLite makes atomic by itself: no BEGIN IMMEDIATE and no COMMIT to run around it."""
        if self._writer is None:
            self._writer = SQLiteStatements(self._connect(), self._plans, self._lock_timeout)
        if alone:
            self._writer.alone()
        return self._writer

    async def read(self, statement: ClauseElement, parameters: Parameters | None = None) -> Answer:
        # Statements run synchronously on this thread, so a write transaction open on the write connection (its
        # coroutine suspended between its statements) shows `in_transaction`, and its uncommitted writes are
        # never read: such a read goes to the read connection. A transaction that has only read so far has
        # begun nothing (the connection begins with its first write), and has nothing uncommitted to show.
        # A read SQLite refuses there does not wait on that connection, where a transaction may begin meanwhile.
        writer = self._writer
        if writer is not None and not writer._connection.in_transaction:
            try:
                answer = await writer.execute(statement, parameters, wait=False)
            except Refused:
                pass
            else:
                if writer._connection.in_transaction:  # a write, which `read` is not for: none is left open
                    writer.rollback()
                    raise TypeError("Database.read() runs statements that only read")
                return answer
        if self._reader is None:
            connection = self._connect()
            connection.isolation_level = None  # reads only: no transaction is ever opened on it
            self._reader = SQLiteStatements(connection, self._plans, self._lock_timeout)
        return await self._reader.execute(statement, parameters)

    def close(self) -> None:
        for statements in (self._writer, self._reader):
            if statements is not None:
                statements._connection.close()
        self._writer = self._reader = None


class _Sent(NamedTuple):
    """A statement in a round trip: its plan, whether it runs once for each of several parameter sets, and the
    driver's sets."""

    plan: Plan
    many: bool
    converted: list[Any]


class _Failed(Exception):
    """A round trip's failure, and the statement it failed at."""

    def __init__(self, error: Exception, sent: _Sent) -> None:
        self.error = error
        self.sent = sent


_BEGIN, _COMMIT = text("BEGIN"), text("COMMIT")


class PostgreSQLStatements(_Statements):
    """Statements on a psycopg async connection, sent in libpq's pipeline mode: one round trip carries the
    transaction's BEGIN with its first statement, the writes `defer` held back with the statement after them, or
    with the COMMIT. Each round trip is answered whole, and its first error raised, before its call returns."""

    def __init__(self, pool: PostgreSQL, connection: psycopg.AsyncConnection[Any], *, transaction: bool) -> None:
        self._pool = pool
        self.connection = connection
        self._plans = pool.plans
        self._ran = False
        self._transaction = transaction  # else a read on a connection in autocommit: no BEGIN, no COMMIT
        self._began = False
        self._deferred: list[_Sent] = []
        # One cursor for the transaction's statements: psycopg's cursors cost more to make than to use again.
        self._cursor: psycopg.AsyncCursor[Any] | None = None

    async def lock(self) -> None:
        """Nothing to do: PostgreSQL's reads lock what they read (FOR UPDATE)."""

    async def defer(
        self, statement: ClauseElement, parameters: Parameters | Sequence[Parameters] | None = None
    ) -> None:
        """Held back until the transaction's next statement or its COMMIT, which sends it in its round trip."""
        self._deferred.append(_Sent(*_prepared(self._plans, statement, parameters)))

    async def execute(
        self, statement: ClauseElement, parameters: Parameters | Sequence[Parameters] | None = None
    ) -> Answer:
        from psycopg.pq import ExecStatus

        plan, many, converted = _prepared(self._plans, statement, parameters)
        results = await self._round_trip(_Sent(plan, many, converted))
        if many:
            return Answer([], sum(result.command_tuples or 0 for result in results))
        cursor = self._cursor
        assert cursor is not None
        cursor._reset()
        cursor._set_results(results)
        result = results[0]
        if result.status != ExecStatus.TUPLES_OK:
            return Answer([], cursor.rowcount)
        # The result's type codes, read from it: psycopg makes the cursor's description anew at each ask.
        types = tuple(result.ftype(i) for i in range(result.nfields))
        raw = await cursor.fetchall()
        return Answer(plan.rows(raw, types, lambda: cursor.description or (), self._plans.dialect), cursor.rowcount)

    async def commit(self) -> None:
        """The deferred writes and the COMMIT, in one round trip; none when the transaction never began."""
        if self._deferred and not self._ran:
            # A transaction's first round trip is made again on a new connection when its connection broke while
            # idle, safe only without a COMMIT (the server may have run it): the COMMIT goes on its own.
            await self._round_trip(self._deferred.pop())
        if self._began or self._deferred:
            await self._round_trip(None)

    async def _round_trip(self, last: _Sent | None) -> list[Any]:
        """Sends the deferred writes then `last` (None: COMMIT), after BEGIN when the transaction has not begun,
        in one round trip; answers the results of `last`'s parameter sets."""
        import psycopg

        sent = self._deferred
        self._deferred = []
        if last is None:
            last = _Sent(self._plans.plan(_COMMIT, {}), False, [{}])
        sent.append(last)
        if self._transaction and not self._began:
            sent.insert(0, _Sent(self._plans.plan(_BEGIN, {}), False, [{}]))
        while True:
            if self._cursor is None or self._cursor.connection is not self.connection:
                self._cursor = self.connection.cursor()
            try:
                results = await _run(self.connection, self._cursor, sent)
                break
            except _Failed as failed:
                error, plan, many = failed.error, failed.sent.plan, failed.sent.many
                # A connection that broke while it was idle (a restart of the server) fails its transaction's
                # first round trip, which changed nothing: once, it is made again on a new connection.
                if self._ran or not isinstance(error, psycopg.OperationalError) or not self.connection.broken:
                    raise _driver_error(error, plan, self._plans.dialect, many) from error
                self.connection = await self._pool.replace(self.connection)
                self._ran = True
        self._ran = self._began = True
        return results


async def _run(
    connection: psycopg.AsyncConnection[Any], cursor: psycopg.AsyncCursor[Any], sent: list[_Sent]
) -> list[Any]:
    """Runs every statement of `sent` (each parameter set as a statement) in one round trip; the results of the
    last statement's parameter sets, or _Failed with the first statement that failed (none after it ran). One
    statement goes as psycopg's cursor sends it (prepared once it has run a few times); several in pipeline
    mode, with one Sync."""
    from psycopg import Error

    if len(sent) == 1 and len(sent[0].converted) == 1:
        try:
            if sent[0].plan.sql == "COMMIT":
                await connection.commit()
                return []
            await cursor.execute(sent[0].plan.sql, sent[0].converted[0])
        except Error as error:
            raise _Failed(error, sent[0]) from error
        assert cursor.pgresult is not None
        return [cursor.pgresult]
    from psycopg.adapt import Transformer

    queries = []
    cursor._tx = Transformer(cursor)  # as the cursor makes one for each query it runs
    try:
        for item in sent:
            for params in item.converted:
                queries.append((cursor._convert_query(item.plan.sql, params), item))
    except Error as error:
        raise _Failed(error, item) from error
    try:
        answers = await connection.wait(_pipeline(connection.pgconn, [query for query, _ in queries]))
    except Error as error:
        raise _Failed(error, queries[0][1]) from error
    for (_query, item), results in zip(queries, answers, strict=True):
        try:
            cursor._check_results(results)
        except Error as error:
            raise _Failed(error, item) from None
    last = sent[-1]
    return [results[0] for (_query, item), results in zip(queries, answers, strict=True) if item is last]


def _pipeline(pgconn: Any, queries: list[Any]) -> Generator[Any, Any, list[list[Any]]]:
    """psycopg's generator (waited for by `connection.wait`) sending `queries` in pipeline mode, then a Sync, and
    reading every answer up to the Sync's: each query's results."""
    from psycopg import generators
    from psycopg.pq import ExecStatus

    pgconn.enter_pipeline_mode()
    for query in queries:
        pgconn.send_query_params(query.query, query.params, param_types=query.types, param_formats=query.formats)
    pgconn.pipeline_sync()
    yield from generators.send(pgconn)
    answers: list[list[Any]] = []
    while True:
        results = yield from generators.fetch_many(pgconn)
        if results and results[0].status == ExecStatus.PIPELINE_SYNC:
            break
        answers.append(results)
    pgconn.exit_pipeline_mode()
    return answers


class PostgreSQL:
    """psycopg async connections to one PostgreSQL database, opened as SQLAlchemy's dialect opens its own (the
    same adapters), at most `size` at once for transactions and as many for reads (in autocommit)."""

    def __init__(self, open_connection: Callable[[], Any], plans: Plans, size: int) -> None:
        self._open = open_connection
        self.plans = plans
        self._idle: deque[psycopg.AsyncConnection[Any]] = deque()
        self._idle_readers: deque[psycopg.AsyncConnection[Any]] = deque()
        self._size = size
        self._slots: asyncio.Semaphore | None = None
        self._reader_slots: asyncio.Semaphore | None = None

    async def replace(self, connection: psycopg.AsyncConnection[Any]) -> psycopg.AsyncConnection[Any]:
        await connection.close()
        replacement: psycopg.AsyncConnection[Any] = await self._open()
        await replacement.set_autocommit(connection.autocommit)
        return replacement

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgreSQLStatements]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._size)
        async with self._slots:
            connection = await self._checkout(self._idle, autocommit=False)
            statements = PostgreSQLStatements(self, connection, transaction=True)
            try:
                yield statements
                await statements.commit()
            except BaseException:
                await self._discard_or_roll_back(statements.connection)
                raise
            self._idle.append(statements.connection)

    async def read(self, statement: ClauseElement, parameters: Parameters | None = None) -> Answer:
        if self._reader_slots is None:
            self._reader_slots = asyncio.Semaphore(self._size)
        async with self._reader_slots:
            connection = await self._checkout(self._idle_readers, autocommit=True)
            statements = PostgreSQLStatements(self, connection, transaction=False)
            try:
                answer = await statements.execute(statement, parameters)
            except BaseException:
                await self._discard_or_roll_back(statements.connection, self._idle_readers)
                raise
            self._idle_readers.append(statements.connection)
            return answer

    async def _checkout(
        self, idle: deque[psycopg.AsyncConnection[Any]], *, autocommit: bool
    ) -> psycopg.AsyncConnection[Any]:
        while idle:
            kept = idle.pop()
            if not kept.closed:
                return kept
        connection: psycopg.AsyncConnection[Any] = await self._open()
        if autocommit:
            await connection.set_autocommit(True)
        return connection

    async def _discard_or_roll_back(
        self, connection: psycopg.AsyncConnection[Any], idle: deque[psycopg.AsyncConnection[Any]] | None = None
    ) -> None:
        """Puts a connection whose transaction failed back in the pool rolled back, or closes it when it
        cannot be (broken, or interrupted in the middle of a statement)."""
        from psycopg import pq

        try:
            if connection.broken or connection.pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
                raise ConnectionError
            if not connection.autocommit:
                await connection.rollback()
        except BaseException:
            await connection.close()
            return
        (self._idle if idle is None else idle).append(connection)

    async def close(self) -> None:
        for idle in (self._idle, self._idle_readers):
            while idle:
                await idle.pop().close()
