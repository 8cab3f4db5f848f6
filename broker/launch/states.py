"""The launch states of logins waiting for their launch: stored at the login, spent once at the launch.

A state is stored under an HMAC of its value (`digest`), so the table never holds a value that could finish a
launch; spending it is one UPDATE, so of two concurrent posts of one state exactly one wins.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from broker.database import Database, utcnow
from broker.launch import errors
from broker.launch.models import LaunchState
from tenants.encryption import derive_key

# From the login to the platform's answer is one redirect and one form post; ten minutes is generous.
LAUNCH_STATE_TTL = timedelta(minutes=10)
# Used and expired states are kept this long after expiry, so a replay is told apart from a made-up state.
LAUNCH_STATE_RETENTION = timedelta(hours=1)
CLEANUP_INTERVAL = 60.0
# The statements, built once: they run twice per launch, and building a statement (values coerced, cache key
# computed) costs more than executing it.
_STATES = LaunchState.metadata.tables[LaunchState.__tablename__]  # the Table (`__table__` is typed as any FROM)
_THIS_STATE = (_STATES.c.digest == bindparam("state_digest")) & (_STATES.c.tenant_id == bindparam("tenant"))
_STORE_STATE = insert(_STATES)
_CLAIM_STATE = (
    update(_STATES)
    .where(_THIS_STATE, _STATES.c.used_at.is_(None), _STATES.c.expires_at > bindparam("now"))
    .values(used_at=bindparam("now"))
    .returning(
        _STATES.c.registration_id,
        _STATES.c.nonce,
        _STATES.c.target_link_uri,
        _STATES.c.lti_deployment_id,
        _STATES.c.login_host,
    )
)
# A launch with nothing binding it to its browser spends its state only if the login offered no platform
# storage; otherwise the storage check comes first (and this launch's one round trip reads why it was not).
_CLAIM_UNOFFERED_STATE = _CLAIM_STATE.where(_STATES.c.storage_target.is_(None))
_FIND_STATE = select(
    _STATES.c.used_at, _STATES.c.expires_at, _STATES.c.storage_target, _STATES.c.registration_id
).where(_THIS_STATE)
_FORGET_STATES = delete(_STATES).where(_STATES.c.expires_at < bindparam("before"))

# More work of the request's in the same write transaction, done first: its request limits (`PublicRequest.count`),
# which then commit with the state instead of in a transaction of their own, and roll it back when they refuse.
InWrite = Callable[[AsyncConnection], Awaitable[None]]


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
    def __init__(self, database: Database, secret_key: str) -> None:
        self.database = database
        self._key = derive_key(secret_key, "launch-state v1")
        self._next_cleanup = 0.0

    def digest(self, state: str) -> str:
        return hmac.new(self._key, state.encode(), hashlib.sha256).hexdigest()

    async def store(self, digest: str, new: NewState, in_write: InWrite | None = None) -> None:
        """Stores a login's state; now and then, the same connection also forgets long-expired states."""
        now = utcnow()
        row = {
            "digest": digest,
            "tenant_id": new.tenant_id,
            "registration_id": new.registration_id,
            "nonce": new.nonce,
            "target_link_uri": new.target_link_uri,
            "lti_deployment_id": new.lti_deployment_id,
            "storage_target": new.storage_target,
            "login_host": new.login_host,
            "expires_at": now + LAUNCH_STATE_TTL,
        }
        async with self.database.ephemeral() as connection:
            if in_write is not None:
                await in_write(connection)
            await connection.execute(_STORE_STATE, row)
            if time.monotonic() >= self._next_cleanup:
                self._next_cleanup = time.monotonic() + CLEANUP_INTERVAL
                await connection.execute(_FORGET_STATES, {"before": now - LAUNCH_STATE_RETENTION})

    async def spend(
        self, tenant_id: str, digest: str, *, unless_offered: bool = False, in_write: InWrite | None = None
    ) -> PendingLaunch | StorageOffer:
        """Marks the state used, in one statement, so that of two concurrent posts of it exactly one wins.

        `unless_offered`: a state whose login offered the platform's storage is left unspent, and its offer is
        answered instead (the launch must first prove its binding from that storage).
        """
        params = {"state_digest": digest, "tenant": tenant_id, "now": utcnow()}
        async with self.database.ephemeral() as connection:
            if in_write is not None:
                await in_write(connection)
            claim = _CLAIM_UNOFFERED_STATE if unless_offered else _CLAIM_STATE
            row = (await connection.execute(claim, params)).first()
            if row is not None:
                return PendingLaunch(*row)
            found = (await connection.execute(_FIND_STATE, params)).first()
        # Refused after the transaction: the request's own work in it (its limits) still commits.
        if found is None:
            raise errors.LaunchStateRefused(
                "This launch's state is unknown: the launch did not start at this tool.", field="state"
            )
        if found.used_at is not None:
            raise errors.LaunchStateRefused("This launch was already used; each launch works once.", field="state")
        if found.expires_at <= params["now"]:
            raise errors.LaunchStateRefused("This launch started too long ago and has expired.", field="state")
        # Unspent and unexpired: only left so because its login offered storage (`unless_offered`).
        return StorageOffer(found.storage_target, found.registration_id)
