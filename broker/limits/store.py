"""Where limits are counted, so that every broker process counts against the same numbers: the database
(PostgreSQL for a fleet, SQLite for one host) or, when BROKER_REDIS_URL is set, Redis.

Rates are token buckets kept as the time each bucket is full again (the generic cell rate algorithm): one
number per key, changed by one atomic statement (an upsert, or a Lua script in Redis), so two processes
taking the last token at once cannot both get it. Calls in flight are numbered places (`acquire`) that
expire on their own, so a process killed mid-call gives its places back.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Protocol

from sqlalchemy import BindParameter, Delete, TextClause, bindparam, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningInsert

from broker.database import Database
from broker.direct_sql import Statements
from broker.limits.models import LimitBucket, LimitSlot

# A write transaction of the caller's that the database store joins: direct statements (`Database.ephemeral()`),
# or an ORM session's connection.
Joining = Statements | AsyncConnection

# How long a place for a call in flight is held at most: every outbound call ends within 10 s, and a
# registration step makes at most a few of them.
LEASE_SECONDS = 60.0


@dataclass(frozen=True)
class Rate:
    """`limit` events per `period` seconds, in bursts of up to `limit`."""

    name: str
    limit: int
    period: float = 60.0

    @property
    def interval(self) -> float:
        return self.period / self.limit

    def key(self, subject: str) -> str:
        return self._prefix + subject

    @cached_property
    def _prefix(self) -> str:
        # The rate is part of the key, so processes (or tests) with different settings never share a bucket.
        return f"{self.name}:{self.limit}/{self.period:g}:"


@dataclass(frozen=True)
class Places:
    """`limit` places for calls in flight of one `subject`."""

    name: str
    limit: int
    subject: str


@dataclass(frozen=True)
class Lease:
    """A place held for one call in flight."""

    key: str
    slot: int
    holder: str


class LimitStore(Protocol):
    """`joining`, where a method takes it, is a write transaction of the caller's on the limits' database: the
    database store does its work there, to commit (or roll back) with the caller's own writes instead of in a
    transaction of its own; the Redis store does its work in Redis as always."""

    async def take(self, checks: Sequence[tuple[Rate, str]], joining: Joining | None = None) -> float:
        """Spends a token from each (rate, subject) bucket that has one: 0 when all had one, else the longest
        wait in seconds until the refused ones have one."""
        ...

    async def wait(self, rate: Rate, subject: str) -> float:
        """The seconds until the bucket has a token (0 when it has one), spending nothing."""
        ...

    async def acquire(
        self, places: Sequence[Places], joining: Joining | None = None
    ) -> list[Lease] | None:
        """One place of each of `places` for a call in flight, or None when one has none free (then none is
        held, unless `joining` is kept: a caller that joins rolls back on None)."""
        ...

    async def release(self, leases: Sequence[Lease], joining: Joining | None = None) -> None:
        """Gives the places back; giving back a place already given back changes nothing."""
        ...

    async def prune(self) -> None:
        """Forgets full buckets and expired places (they mean the same as none)."""
        ...

    async def close(self) -> None: ...


def open_limit_store(database: Database, redis_url: str, namespace: str) -> LimitStore:
    """Redis when a URL is given, else the database. `namespace` keeps deployments that share a Redis apart."""
    if redis_url:
        return RedisLimitStore(redis_url, namespace)
    return DatabaseLimitStore(database)


def deployment_namespace(database_url: str) -> str:
    """A short name for the deployment whose limits these are: every process on one database shares it."""
    return "lti-broker:" + hashlib.sha256(database_url.encode()).hexdigest()[:16]


# An upsert that both engines read the same way, taking a token from each of its buckets that has one. A row is
# inserted with full_at = now + interval: in the update, `excluded.full_at - now` is then the row's own interval,
# which is how one statement serves buckets of different rates without a term per bucket. A bucket has a token when
# its full_at, once the interval is added, is at most a period ahead: max(full_at, now) + interval - now <= period,
# that is full_at + excluded.full_at <= 2 now + period (`:room`; a full_at in the past passes either way, as an
# interval is at most the period). `refused` records the decision so that RETURNING can say what happened.
_TAKE_TEMPLATE = (
    "INSERT INTO limit_buckets (key, full_at, refused) VALUES {rows} "
    "ON CONFLICT (key) DO UPDATE SET "
    "full_at = CASE WHEN limit_buckets.full_at + excluded.full_at > :room THEN limit_buckets.full_at "
    "WHEN limit_buckets.full_at > :now THEN limit_buckets.full_at + excluded.full_at - :now "
    "ELSE excluded.full_at END, "
    "refused = limit_buckets.full_at + excluded.full_at > :room "
    "RETURNING key, full_at, refused"
)


@lru_cache(maxsize=8)
def _take_statement(buckets: int) -> tuple[TextClause, tuple[str, ...]]:
    """The upsert taking a token from each of `buckets` buckets of one period, and the names of its buckets'
    parameters in order (each bucket's key, then its `now + interval`), built once per count: reading a
    statement's text for its parameters costs more than running it."""
    rows = ", ".join(f"(:key_{i}, :at_{i}, false)" for i in range(buckets))
    names = tuple(name for i in range(buckets) for name in (f"key_{i}", f"at_{i}"))
    return text(_TAKE_TEMPLATE.format(rows=rows)), names


class DatabaseLimitStore:
    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.clock = clock

    async def take(self, checks: Sequence[tuple[Rate, str]], joining: Joining | None = None) -> float:
        return max(await self.take_each(checks, joining), default=0.0)

    async def take_each(self, checks: Sequence[tuple[Rate, str]], joining: Joining | None = None) -> list[float]:
        """`take`, answering each check's wait (0 where its bucket had a token), in the order of `checks`."""
        if joining is None:
            # Each statement takes its buckets by itself; none needs another's commit (alone: on SQLite, no
            # BEGIN and COMMIT around the one statement of a request's limits).
            async with self.database.ephemeral(alone=True) as connection:
                return await self._take_each(checks, connection)
        return await self._take_each(checks, joining)

    async def _take_each(self, checks: Sequence[tuple[Rate, str]], connection: Joining) -> list[float]:
        now = self.clock()
        keys = [rate.key(subject) for rate, subject in checks]
        rates = dict(zip(keys, [rate for rate, _ in checks], strict=True))
        # One statement for the buckets of each period (every bucket a request takes has the same period).
        periods: dict[float, list[str]] = {}
        for key, rate in rates.items():
            periods.setdefault(rate.period, []).append(key)
        waits: dict[str, float] = {}
        for period, group in periods.items():
            statement, names = _take_statement(len(group))
            values: dict[str, object] = {"now": now, "room": now + now + period}
            values.update(zip(names, [v for key in group for v in (key, now + rates[key].interval)], strict=True))
            for key, full_at, refused in await connection.execute(statement, values):
                if refused:
                    waits[key] = full_at + rates[key].interval - now - period
        return [waits.get(key, 0.0) for key in keys]

    async def wait(self, rate: Rate, subject: str) -> float:
        async with self.database.session() as session:
            full_at = await session.scalar(select(LimitBucket.full_at).where(LimitBucket.key == rate.key(subject)))
        if full_at is None:
            return 0.0
        return max(0.0, full_at + rate.interval - self.clock() - rate.period)

    async def acquire(
        self, places: Sequence[Places], joining: Joining | None = None
    ) -> list[Lease] | None:
        keys = [_places_key(wanted) for wanted in places]
        if len(set(keys)) != len(keys) or any(wanted.limit < 1 for wanted in places):
            return None  # one call cannot hold two places of one limit, nor one of a limit of none
        # One transaction for every place (a call holds several): all are claimed together, or none.
        try:
            if joining is None:
                async with self.database.ephemeral() as connection:
                    return await self._acquire(places, keys, connection)
            return await self._acquire(places, keys, joining)
        except _NoPlace:
            return None

    async def _acquire(self, places: Sequence[Places], keys: list[str], connection: Joining) -> list[Lease]:
        now = self.clock()
        holder = secrets.token_hex(8)
        # Each limit's first place is free unless calls are in flight: all are tried in one statement.
        values: dict[str, object] = {"holder": holder, "expires_at": now + LEASE_SECONDS, "now": now}
        values.update(zip(_key_names(len(keys)), keys, strict=True))
        statement = _claim_first_statement(len(keys), self.database.is_sqlite)
        first = {key for key, in await connection.execute(statement, values)}
        leases = []
        for wanted, key in zip(places, keys, strict=True):
            lease = Lease(key, 0, holder) if key in first else await self._claim(connection, wanted, key, holder, now)
            if lease is None:
                raise _NoPlace
            leases.append(lease)
        return leases

    async def _claim(
        self, connection: Joining, places: Places, key: str, holder: str, now: float
    ) -> Lease | None:
        """One of the places after the first, which was held."""
        held = set(await connection.scalars(_HELD, {"key": key, "now": now}))
        claim = _CLAIM_SQLITE if self.database.is_sqlite else _CLAIM_POSTGRESQL
        for slot in (slot for slot in range(1, places.limit) if slot not in held):
            # Claims the place if it is free or its holder's time is up; another process may win it first.
            values = {"key": key, "slot": slot, "holder": holder, "expires_at": now + LEASE_SECONDS, "now": now}
            if (await connection.execute(claim, values)).first() is not None:
                return Lease(key, slot, holder)
        return None

    async def release(self, leases: Sequence[Lease], joining: Joining | None = None) -> None:
        if not leases:
            return
        if joining is None:
            async with self.database.ephemeral() as connection:
                await _release(leases, connection)
        else:
            await _release(leases, joining)

    async def prune(self) -> None:
        now = self.clock()
        async with self.database.ephemeral() as connection:
            await connection.defer(_FORGET_BUCKETS, {"now": now})
            await connection.defer(_FORGET_PLACES, {"now": now})

    async def close(self) -> None:
        """The database belongs to the services; nothing of its own to close."""


async def _release(leases: Sequence[Lease], connection: Joining) -> None:
    holders: dict[str, list[str]] = {}
    for lease in leases:
        holders.setdefault(lease.holder, []).append(lease.key)
    # A holder holds one place of each limit: its places go in one statement.
    for holder, keys in holders.items():
        values = {"holder": holder, **dict(zip(_key_names(len(keys)), keys, strict=True))}
        await _write(connection, _release_statement(len(keys)), values)


async def _write(connection: Joining, statement: Delete, values: Mapping[str, object]) -> None:
    """A write whose answer nobody reads, deferred to the transaction's next round trip where it can be (direct
    statements on PostgreSQL: `Statements.defer`)."""
    if isinstance(connection, AsyncConnection):
        await connection.execute(statement, values)
    else:
        await connection.defer(statement, values)


def _places_key(places: Places) -> str:
    return f"{places.name}:{places.limit}:{places.subject}"


_FORGET_BUCKETS = delete(LimitBucket).where(LimitBucket.full_at < bindparam("now"))
_FORGET_PLACES = delete(LimitSlot).where(LimitSlot.expires_at < bindparam("now"))

# The statements of places in flight, built once (building and keying a statement costs more than running it).
_HELD = select(LimitSlot.slot).where(LimitSlot.key == bindparam("key"), LimitSlot.expires_at > bindparam("now"))


def _claim_statement(insert: Callable[..., postgresql.Insert | sqlite.Insert]) -> ReturningInsert[tuple[int]]:
    """Takes a place that is free or whose holder's time is up; answers its slot when it took it."""
    values = insert(LimitSlot).values(
        key=bindparam("key"), slot=bindparam("slot"), holder=bindparam("holder"), expires_at=bindparam("expires_at")
    )
    return values.on_conflict_do_update(
        index_elements=["key", "slot"],
        set_={"holder": values.excluded.holder, "expires_at": values.excluded.expires_at},
        where=LimitSlot.expires_at <= bindparam("now"),
    ).returning(LimitSlot.slot)


_CLAIM_SQLITE = _claim_statement(sqlite.insert)
_CLAIM_POSTGRESQL = _claim_statement(postgresql.insert)


@lru_cache(maxsize=8)
def _claim_first_statement(count: int, is_sqlite: bool) -> ReturningInsert[str]:
    """Takes the first place (slot 0) of each of `count` limits where it is free or its holder's time is up;
    answers the keys of those it took."""
    insert = sqlite.insert if is_sqlite else postgresql.insert
    rows = [
        {"key": bindparam(f"key_{i}"), "slot": 0, "holder": bindparam("holder"), "expires_at": bindparam("expires_at")}
        for i in range(count)
    ]
    values = insert(LimitSlot).values(rows)
    return values.on_conflict_do_update(
        index_elements=["key", "slot"],
        set_={"holder": values.excluded.holder, "expires_at": values.excluded.expires_at},
        where=LimitSlot.expires_at <= bindparam("now"),
    ).returning(LimitSlot.key)


@lru_cache(maxsize=8)
def _key_names(count: int) -> tuple[str, ...]:
    """The names of the keys' parameters in the statements of `count` limits."""
    return tuple(f"key_{i}" for i in range(count))


@lru_cache(maxsize=8)
def _release_statement(count: int) -> Delete:
    """Gives back one holder's places of `count` limits (a holder holds one place of each)."""
    keys: list[BindParameter[str]] = [bindparam(f"key_{i}") for i in range(count)]
    return delete(LimitSlot).where(LimitSlot.key.in_(keys), LimitSlot.holder == bindparam("holder"))


class _NoPlace(Exception):
    """Rolls back the places claimed before one that had none free."""


# KEYS: the buckets; ARGV: now, then each bucket's interval and period. Answers the longest wait (a string:
# Redis would cut a number to an integer).
_TAKE_SCRIPT = """
local now = tonumber(ARGV[1])
local longest = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local period = tonumber(ARGV[2 * i + 1])
  local full_at = tonumber(redis.call('GET', key) or now)
  if full_at < now then full_at = now end
  local after = full_at + interval
  if after - now <= period then
    redis.call('SET', key, string.format('%.6f', after), 'PX', math.ceil((after - now) * 1000))
  elseif after - now - period > longest then
    longest = after - now - period
  end
end
return string.format('%.6f', longest)
"""

# KEYS: the places' sorted set (holder -> expiry); ARGV: now, limit, expiry, holder, lifetime in ms.
_ACQUIRE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


# How long a new connection to Redis may take. The deadline counts this process's event loop as well as Redis:
# on a loaded host (every core busy) the loop can be held up for a second or more after Redis has accepted the
# connection, and 2 s then read as "Timeout connecting to server". 5 s, the broker's connect deadline for
# platforms, still bounds a check against a Redis that does not answer. (Reads keep 2 s: held up the same way
# while a reply waits, a read still gets it.)
REDIS_CONNECT_TIMEOUT = 5.0


class RedisLimitStore:
    def __init__(self, url: str, namespace: str, *, clock: Callable[[], float] = time.time) -> None:
        # Imported here: the database store needs no Redis client installed.
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=REDIS_CONNECT_TIMEOUT)
        self.namespace = namespace
        self.clock = clock
        self._take = self.redis.register_script(_TAKE_SCRIPT)
        self._acquire = self.redis.register_script(_ACQUIRE_SCRIPT)

    async def take(self, checks: Sequence[tuple[Rate, str]], joining: Joining | None = None) -> float:
        keys = [f"{self.namespace}:{rate.key(subject)}" for rate, subject in checks]
        args: list[float] = [self.clock()]
        for rate, _ in checks:
            args += [rate.interval, rate.period]
        return float(await self._take(keys=keys, args=args))

    async def wait(self, rate: Rate, subject: str) -> float:
        stored = await self.redis.get(f"{self.namespace}:{rate.key(subject)}")
        if stored is None:
            return 0.0
        return max(0.0, float(stored) + rate.interval - self.clock() - rate.period)

    async def acquire(
        self, places: Sequence[Places], joining: Joining | None = None
    ) -> list[Lease] | None:
        holder = secrets.token_hex(8)
        now = self.clock()
        args: list[float | str] = [now, 0, now + LEASE_SECONDS, holder, int(LEASE_SECONDS * 1000)]
        leases: list[Lease] = []
        for wanted in places:
            key = f"{self.namespace}:{wanted.name}:{wanted.limit}:{wanted.subject}"
            args[1] = wanted.limit
            if not await self._acquire(keys=[key], args=args):
                await self.release(leases)
                return None
            leases.append(Lease(key, 0, holder))
        return leases

    async def release(self, leases: Sequence[Lease], joining: Joining | None = None) -> None:
        for lease in leases:
            await self.redis.zrem(lease.key, lease.holder)

    async def prune(self) -> None:
        """Redis forgets on its own: every key expires when it would mean the same as no key."""

    async def close(self) -> None:
        await self.redis.aclose()

