"""Waking the delivery worker the moment an event commits, instead of at its next poll: directly in the
process that committed it, and through PostgreSQL's LISTEN/NOTIFY in every other (on SQLite, the other
processes — a CLI command — poll). The poll stays underneath, so a lost notification costs one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

logger = logging.getLogger("broker.webhooks")

CHANNEL = "broker_outbox"
# Tells every listening process, when (and only if) the transaction it is sent in commits.
NOTIFY = text(f"NOTIFY {CHANNEL}")
# Set on a session that recorded an event: its commit wakes the workers.
_RECORDED = "broker_outbox_recorded"
RECONNECT_DELAY = 5.0


class Wakeup:
    """Set when there may be new deliveries; the worker's loop waits on it between polls."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        _wakeups.add(self)

    def set(self) -> None:
        # Commits may happen on other threads (a CLI command run beside the loop).
        self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self) -> None:
        """Waits until set, and clears it."""
        await self._event.wait()
        self._event.clear()


_wakeups: weakref.WeakSet[Wakeup] = weakref.WeakSet()


def recorded(session: Session) -> None:
    """A delivery was added in this session: its commit wakes the workers."""
    session.info[_RECORDED] = True


def wake_this_process() -> None:
    """Wakes this process's workers: call it once a transaction that added deliveries has committed."""
    for wakeup in list(_wakeups):
        wakeup.set()


@sqlalchemy_event.listens_for(Session, "before_commit")
def _notify_other_processes(session: Session) -> None:
    if session.info.get(_RECORDED) and session.get_bind().dialect.name == "postgresql":
        session.execute(NOTIFY)


@sqlalchemy_event.listens_for(Session, "after_commit")
def _wake_this_process(session: Session) -> None:
    if session.info.pop(_RECORDED, False):
        wake_this_process()


@sqlalchemy_event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_RECORDED, None)


async def listen(database_url: str, wakeup: Wakeup, stop: asyncio.Event) -> None:
    """Sets `wakeup` whenever another process commits an event, until `stop`; PostgreSQL only."""
    import psycopg

    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    while not stop.is_set():
        try:
            connection: Any = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
            async with connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                wakeup.set()  # events committed while this process was not listening
                while not stop.is_set():
                    async for _ in connection.notifies(timeout=1.0):
                        wakeup.set()
        except Exception as error:  # the database is down or restarting: the poll carries on meanwhile
            logger.debug("listening for new events failed (%s); trying again in %g s", error, RECONNECT_DELAY)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RECONNECT_DELAY)
