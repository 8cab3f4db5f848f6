"""The launch states of logins waiting for their launch: sealed at the login, spent once at the launch.

A login's state is sealed into the `state` value itself (encrypted and authenticated, `broker.sealed_state`), so
a launch learns what its login remembered from the value the platform sends back, and the login stores nothing.
A state is spent by one statement on a row keyed by an HMAC of the value (`digest`): the row is inserted used,
or, when a login of the release before stored it, marked used. Of two posts of one state, in any processes,
exactly one wins, and the table never holds a value that could finish a launch.

Upgrading: the release before also stored each login's row, and spends a sealed state whose login stored none
as this one does; README, "Upgrading to this release", says how the two serve the same users.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import ReturningInsert

from broker.database import Database
from broker.direct_sql import Statements
from broker.launch import errors
from broker.launch.models import LaunchState
from broker.registration.models import Registration
from broker.sealed_state import StateError, StateSealer
from tenants.encryption import derive_key

# From the login to the platform's answer is one redirect and one form post; ten minutes is generous.
LAUNCH_STATE_TTL = timedelta(minutes=10)
# Used and expired states are kept this long after expiry, so a replay is told apart from a made-up state.
LAUNCH_STATE_RETENTION = timedelta(hours=1)
CLEANUP_INTERVAL = 60.0
# The statements, built once: one runs at every launch, and building a statement (values coerced, cache key
# computed) costs more than executing it.
_STATES = LaunchState.metadata.tables[LaunchState.__tablename__]  # the Table (`__table__` is typed as any FROM)
_REGISTRATIONS = Registration.metadata.tables[Registration.__tablename__]
_THIS_STATE = (_STATES.c.digest == bindparam("state_digest")) & (_STATES.c.tenant_id == bindparam("tenant"))
_FIND_STATE = select(_STATES.c.used_at).where(_THIS_STATE)
_FORGET_STATES = delete(_STATES).where(_STATES.c.expires_at < bindparam("before"))
# The values of a spent row that come from the sealed state (the others: digest, expiry, the registration's row).
_SPENT_BINDS = ("nonce", "target_link_uri", "lti_deployment_id", "storage_target", "login_host")
_SPENT_COLUMNS = (
    "digest", "tenant_id", "registration_id", "nonce", "target_link_uri", "lti_deployment_id", "storage_target",
    "login_host", "expires_at", "used_at",
)  # fmt: skip


def _spend_statement(insert: Callable[..., postgresql.Insert | sqlite.Insert]) -> ReturningInsert[tuple[str]]:
    """Spends a sealed state: inserts its row as used, or marks used the row a login of the release before
    stored. Answers the digest when it spent the state; nothing when it was spent before or has expired. The row
    is taken from the registration's own row, so a registration removed since the login (and its stored states
    with it) inserts nothing instead of failing its foreign key."""
    names = ("digest", *_SPENT_BINDS)
    proposed = select(
        *(bindparam(name, type_=_STATES.c[name].type) for name in names[:1]),
        _REGISTRATIONS.c.tenant_id,
        _REGISTRATIONS.c.id,
        *(bindparam(name, type_=_STATES.c[name].type) for name in names[1:]),
        bindparam("expires_at", type_=_STATES.c.expires_at.type),
        bindparam("now", type_=_STATES.c.used_at.type),
    ).where(_REGISTRATIONS.c.id == bindparam("registration"), _REGISTRATIONS.c.tenant_id == bindparam("tenant"))
    values = insert(_STATES).from_select(list(_SPENT_COLUMNS), proposed)
    return values.on_conflict_do_update(
        index_elements=[_STATES.c.digest],
        set_={"used_at": values.excluded.used_at},
        where=(
            _STATES.c.used_at.is_(None)
            & (_STATES.c.expires_at > values.excluded.used_at)
            & (_STATES.c.tenant_id == values.excluded.tenant_id)
        ),
    ).returning(_STATES.c.digest)


_SPEND_SQLITE = _spend_statement(sqlite.insert)
_SPEND_POSTGRESQL = _spend_statement(postgresql.insert)

# More work of the request's in the same write transaction, done first: its request limits (`PublicRequest.count`),
# which then commit with the spent state instead of in a transaction of their own, and roll it back when they
# refuse.
InWrite = Callable[[Statements], Awaitable[None]]
# What a sealed state holds, by short names (the state travels in URLs).
_SEALED = {
    "tenant_id": "t",
    "registration_id": "r",
    "nonce": "n",
    "target_link_uri": "u",
    "lti_deployment_id": "d",
    "storage_target": "s",
    "login_host": "h",
}
_MAX_SEALED_AGE = int((LAUNCH_STATE_TTL + LAUNCH_STATE_RETENTION).total_seconds())


@dataclass(frozen=True)
class NewState:
    """What the login remembers for its launch."""

    tenant_id: str
    registration_id: str
    nonce: str
    target_link_uri: str
    lti_deployment_id: str | None
    # The platform's `lti_storage_target` when the login offered its postMessage storage (client_storage.py).
    storage_target: str | None
    # The host of the page that started the login (broker.launch.login_origin).
    login_host: str | None = None


@dataclass(frozen=True)
class PendingLaunch:
    """A spent state: what its login remembered."""

    registration_id: str
    nonce: str
    target_link_uri: str
    lti_deployment_id: str | None
    login_host: str | None


@dataclass(frozen=True)
class StorageOffer:
    """An unspent state whose login offered the platform's postMessage storage."""

    storage_target: str
    registration_id: str


class LaunchStates:
    def __init__(self, database: Database, secret_key: str, *, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        # Keyed once: each digest copies it. A new HMAC looks its hash up in OpenSSL again, which costs ten times
        # the copy in a serving process (where those tables are not in the CPU's caches).
        self._keyed = hmac.new(derive_key(secret_key, "launch-state v1"), digestmod=hashlib.sha256)
        self._sealer = StateSealer(secret_key, "launch-state")
        self._spend = _SPEND_SQLITE if database.is_sqlite else _SPEND_POSTGRESQL
        self._clock = clock
        self._next_cleanup = 0.0

    def digest(self, state: str) -> str:
        keyed = self._keyed.copy()
        keyed.update(state.encode())
        return keyed.hexdigest()

    def begin(self, new: NewState) -> str:
        """A login's state: what it remembers, sealed, to be sent to the platform as `state`."""
        expires_at = self._now() + LAUNCH_STATE_TTL
        values = vars(new)  # a dict lookup for each value, where getattr is a call
        sealed = {short: values[name] for name, short in _SEALED.items() if values[name] is not None}
        return self._sealer.seal(sealed | {"x": int(expires_at.timestamp())})

    async def spend(
        self,
        tenant_id: str,
        state: str,
        *,
        digest: str | None = None,
        unless_offered: bool = False,
        in_write: InWrite | None = None,
    ) -> PendingLaunch | StorageOffer:
        """Spends the state in one statement, so that of two concurrent posts of it exactly one wins; now and
        then, the same transaction also forgets long-expired states. `digest`: the state's, when the caller has
        it already (`digest(state)`).

        `unless_offered`: a state whose login offered the platform's storage is left unspent, and its offer is
        answered instead (the launch must first prove its binding from that storage).
        """
        now = self._now()
        new, expires_at = self._opened(state)
        # Refused before any write: the route counts the request's limits on their own.
        if new.tenant_id != tenant_id:
            raise _unknown()
        if expires_at <= now:
            raise _expired()
        digest = self.digest(state) if digest is None else digest
        params: dict[str, Any] = {"state_digest": digest, "tenant": tenant_id, "now": now}
        offered = unless_offered and new.storage_target is not None
        row = {
            "nonce": new.nonce, "target_link_uri": new.target_link_uri, "lti_deployment_id": new.lti_deployment_id,
            "storage_target": new.storage_target, "login_host": new.login_host, "digest": digest,
            "expires_at": expires_at, "registration": new.registration_id, "tenant": tenant_id, "now": now,
        }  # fmt: skip
        spent = None
        try:
            async with self.database.ephemeral() as connection:
                if in_write is not None:
                    await in_write(connection)
                if not offered:
                    spent = (await connection.execute(self._spend, row)).first()
                found = None if spent else (await connection.execute(_FIND_STATE, params)).first()
                if time.monotonic() >= self._next_cleanup:
                    self._next_cleanup = time.monotonic() + CLEANUP_INTERVAL
                    await connection.execute(_FORGET_STATES, {"before": now - LAUNCH_STATE_RETENTION})
        except IntegrityError as error:  # the registration was removed during the statement
            raise _removed() from error
        # Refused after the transaction: the request's own work in it (its limits) still commits.
        if spent is not None:
            return PendingLaunch(
                new.registration_id, new.nonce, new.target_link_uri, new.lti_deployment_id, new.login_host
            )
        if found is not None and found.used_at is not None:
            raise _used()
        if offered:
            assert new.storage_target is not None
            return StorageOffer(new.storage_target, new.registration_id)
        # Nothing inserted: its registration was removed. A row left unspent: a login of the release before
        # stored it, and it has expired since (the sealed expiry is its row's, rounded down).
        raise _removed() if found is None else _expired()

    def _opened(self, state: str) -> tuple[NewState, datetime]:
        """What a sealed state holds, and when it expires; refused for any other value."""
        try:
            # Only in the spelling it was sealed in (base64 has others): only that one is spent under its digest.
            payload = self._sealer.unseal(state, max_age=_MAX_SEALED_AGE)
        except StateError as error:
            raise _unknown() from error
        # Each value read where it is: a loop over the names cost twice the calls of the rest of the opening.
        get = payload.get
        tenant_id, registration_id, nonce, target, expiry = get("t"), get("r"), get("n"), get("u"), get("x")
        if not (
            isinstance(tenant_id, str) and isinstance(registration_id, str) and isinstance(nonce, str)
            and isinstance(target, str) and tenant_id and registration_id and nonce and target
            and isinstance(expiry, int)
        ):  # fmt: skip
            raise _unknown()
        new = NewState(tenant_id, registration_id, nonce, target, _text(get("d")), _text(get("s")), _text(get("h")))
        return new, datetime.fromtimestamp(expiry, UTC)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _unknown() -> errors.LaunchStateRefused:
    return errors.LaunchStateRefused(
        "This launch's state is unknown: the launch did not start at this tool.", field="state"
    )


def _used() -> errors.LaunchStateRefused:
    return errors.LaunchStateRefused("This launch was already used; each launch works once.", field="state")


def _expired() -> errors.LaunchStateRefused:
    return errors.LaunchStateRefused("This launch started too long ago and has expired.", field="state")


def _removed() -> errors.UnknownPlatform:
    return errors.UnknownPlatform("The registration this launch started with has been removed.")
