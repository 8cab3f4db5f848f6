"""The tables of the database limit store (unused when the limits live in Redis)."""

from __future__ import annotations

from sqlalchemy import Double, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.database import Base


class LimitBucket(Base):
    """One token bucket, as the time its tokens are all back (`full_at`, seconds since the epoch).

    The key names the limit and its rate (a changed setting starts fresh buckets); a row whose `full_at` has
    passed means the same as no row, so such rows are deleted at leisure.
    """

    __tablename__ = "limit_buckets"
    # On SQLite the row lives in its primary key's b-tree: a take writes one page there, not a table page and
    # its key's index page (migration 0015); and there is no index on `full_at`, which only the prune reads,
    # every few minutes, where each take would move its entry (migration 0016). PostgreSQL keeps the index.
    __table_args__ = (Index(None, "full_at").ddl_if(dialect="postgresql"), {"sqlite_with_rowid": False})

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    full_at: Mapped[float] = mapped_column(Double)
    # What the last take decided, read back in the same statement that decided it.
    refused: Mapped[bool] = mapped_column(default=False)


class LimitSlot(Base):
    """One of a limit's places for a call in flight, held by `holder` until it is released or `expires_at`
    (seconds since the epoch) passes, so a process killed mid-call frees its place."""

    __tablename__ = "limit_slots"
    # No index on `expires_at` on SQLite: only the prune looks for expired places, and the table holds only the
    # places of calls in flight (each deleted when its call ends), so an index page written at each claim and
    # release costs more than the prune's scan saves (migration 0015). PostgreSQL keeps the index its running
    # processes were deployed with: migrations there only add.
    __table_args__ = (Index(None, "expires_at").ddl_if(dialect="postgresql"), {"sqlite_with_rowid": False})

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[float] = mapped_column(Double)
