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
    __table_args__ = (Index(None, "full_at"),)

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    full_at: Mapped[float] = mapped_column(Double)
    # What the last take decided, read back in the same statement that decided it.
    refused: Mapped[bool] = mapped_column(default=False)


class LimitSlot(Base):
    """One of a limit's places for a call in flight, held by `holder` until it is released or `expires_at`
    (seconds since the epoch) passes, so a process killed mid-call frees its place."""

    __tablename__ = "limit_slots"
    __table_args__ = (Index(None, "expires_at"),)

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[float] = mapped_column(Double)
