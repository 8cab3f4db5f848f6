"""The database's fixed costs, in-process, on SQLite: a hot path's write transaction (`Database.ephemeral()`) with
one UPDATE of a registration attempt and with two (the second's cost is a statement's), the review form's read of
its attempt, and the floor: the same transaction in sqlite3 alone. Times are the process's CPU time per
operation (µs), best of ROUNDS. With BENCH_BEFORE, that checkout measures the same in a process of its own,
alternating with this one's.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

ROUNDS = 7
NUMBER = 500
PROCESSES = 3


def measure(best_cpu: Callable[..., Coroutine[Any, Any, float]]) -> dict[str, float]:
    """This process's figures, for the checkout its `broker` package comes from."""

    def _best(run: Callable[[], Awaitable[None]]) -> float:
        """µs of CPU per call of `run`, best of ROUNDS rounds of NUMBER calls."""
        figure: float = asyncio.run(best_cpu(run, rounds=ROUNDS, number=NUMBER))
        return figure

    from broker.database import Database, utcnow
    from broker.migrate import upgrade
    from broker.registration import attempts, errors

    path = Path(tempfile.mkdtemp()) / "bench.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    database = Database(url)
    values = {"attempt_id": "att_none", "updated_at": utcnow(), "error_detail": "x"}

    async def one() -> None:
        async with database.ephemeral() as connection:
            await connection.execute(attempts._UPDATE, values)

    async def two() -> None:
        async with database.ephemeral() as connection:
            await connection.execute(attempts._UPDATE, values)
            await connection.execute(attempts._UPDATE, values)

    async def read() -> None:
        with contextlib.suppress(errors.ReviewExpiredError):
            await attempts.reviewed_attempt(database, "ten_none", "att_none")

    raw = sqlite3.connect(path, isolation_level=None)
    update = "UPDATE registration_attempts SET updated_at=?, error_detail=? WHERE registration_attempts.id = ?"
    raw_values = ("2024-01-01 00:00:00.000000", "x", "att_none")

    async def floor() -> None:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute(update, raw_values)
        raw.execute("COMMIT")

    figures = {"one": _best(one), "two": _best(two), "read": _best(read), "floor": _best(floor)}
    asyncio.run(database.dispose())
    return figures


def main() -> None:
    from bench.inprocess import best_of_processes

    best = best_of_processes(__file__, PROCESSES)
    print(f"database, SQLite, µs of CPU an operation (best of {PROCESSES} processes, {ROUNDS} rounds of {NUMBER}):")
    for name, figures in best.items():
        print(
            f"  {name}: ephemeral() with one UPDATE {figures['one']:.1f}, each further statement "
            f"{figures['two'] - figures['one']:.1f}; the review form's read {figures['read']:.1f}; "
            f"sqlite3 alone {figures['floor']:.1f}"
        )
