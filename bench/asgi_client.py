"""What the counting benches (registration_counts, launch_counts) share: a broker on a SQLite database of its own
with one tenant, and its app called as ASGI with no server, the process's CPU of those calls added up; for
launch_counts, sqlite3's trace of every connection the app opens, by step, removed before any CPU is timed (a trace
callback inflates it); and how both count statements and write their report for `BENCH_PROFILE_TOP`.

Loaded by its file (bench/ is no package on the measuring process's path, see bench/inprocess.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import pstats
import re
import runpy
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

_HOST = b"broker.bench"
_SCOPE = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http", "root_path": "",
    "client": ("127.0.0.2", 50000), "server": ("127.0.0.1", 8000),
}  # fmt: skip
# The served benches' set-up (bench/deployment.py), by its file too; its folders live as long as this process.
_DEPLOYMENT = runpy.run_path(str(Path(__file__).with_name("deployment.py")))
BASE_URL = _DEPLOYMENT["BASE_URL"]
_KEPT = contextlib.ExitStack()


def broker_with_tenant() -> tuple[Any, Path]:
    """Points this process's broker at a new SQLite database holding one tenant, set up as the served benches'
    (bench/deployment.py); answers that deployment and the database's file."""
    bench = _KEPT.enter_context(_DEPLOYMENT["deployment"]())
    os.environ.update({**bench.env, "BROKER_LOG_LEVEL": "WARNING"})
    return bench, Path(bench.database_url.removeprefix("sqlite:///"))


class Answer:
    def __init__(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []

    @property
    def page(self) -> bytes:
        return b"".join(self.chunks)

    def header(self, name: bytes) -> str:
        """A header's value, read after the call (so that the app's profile does not count it)."""
        return next(value.decode() for key, value in self.raw_headers if key == name)


class AsgiClient:
    """Calls an ASGI app as a browser's request would reach it; `spent` adds up the process's CPU in its calls."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.spent = 0.0

    async def call(
        self, method: str, path: str, query: str = "", body: bytes = b"", extra: Iterable[tuple[bytes, bytes]] = ()
    ) -> Answer:
        headers = [(b"host", _HOST), (b"user-agent", b"bench"), (b"accept", b"text/html"), *extra]
        if method == "POST":
            headers += [(b"content-type", b"application/x-www-form-urlencoded"),
                        (b"content-length", str(len(body)).encode())]  # fmt: skip
        scope = {**_SCOPE, "method": method, "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "headers": headers}  # fmt: skip
        sent = False
        answer = Answer()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                answer.raw_headers = message["headers"]
            elif message["type"] == "http.response.body":
                answer.chunks.append(message.get("body", b""))

        started = time.process_time()
        await self.app(scope, receive, send)
        self.spent += time.process_time() - started
        return answer


class StatementTrace:
    """sqlite3's trace of every connection opened once installed, the statements counted under `step` (none: not
    counted)."""

    def __init__(self, steps: Iterable[str]) -> None:
        self.statements: dict[str, Counter[str]] = {step: Counter() for step in steps}
        self.step: str | None = None
        self._connections: list[sqlite3.Connection] = []
        self._connect = sqlite3.connect

    def install(self) -> None:
        connect = self._connect

        def traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            connection: sqlite3.Connection = connect(*args, **kwargs)
            self._connections.append(connection)
            connection.set_trace_callback(self._trace)
            return connection

        sqlite3.connect = traced_connect  # type: ignore[assignment]

    def _trace(self, statement: str) -> None:
        if self.step is not None:
            self.statements[self.step][statement.strip()] += 1

    def remove(self) -> None:
        sqlite3.connect = self._connect
        for connection in self._connections:
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed meanwhile
                connection.set_trace_callback(None)


_TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_VALUES = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


def statement_counts(statements: Counter[str], per: int) -> tuple[float, float]:
    """The statements (transaction control apart) and the transactions (BEGINs) of `statements`, per one of `per`."""
    counted = sum(n for s, n in statements.items() if not s.upper().startswith(_TRANSACTION))
    begins = sum(n for s, n in statements.items() if s.upper().startswith("BEGIN"))
    return counted / per, begins / per


def functions_section(step: str, stats: pstats.Stats, top: int) -> str:
    """The report's part on a step's `top` costliest functions, by own time, then by time with callees."""
    stream = io.StringIO()
    stats.stream = stream  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top).sort_stats("cumulative").print_stats(top * 2)
    return f"--- {step}: the {top} costliest functions by own time, then by time with callees\n{stream.getvalue()}"


def statements_section(heading: str, statements: Counter[str], per: int) -> str:
    """The report's part on statements: each once, its values made `?` (sqlite3's trace gives them bound)."""
    shapes: Counter[str] = Counter()
    for statement, count in statements.items():
        shapes[_VALUES.sub("?", statement)] += count
    lines = [f"{count / per:6.2f}  {statement}\n" for statement, count in shapes.most_common()]
    return f"--- {heading}\n" + "".join(lines)


def write_report(bench: str, report: Iterable[str], broker_file: str) -> None:
    """Writes the report to bench/profiles/<bench>-<checkout folder>.txt (`broker_file`: its broker package's)."""
    checkout = Path(broker_file).parent.parent.name
    output = Path(__file__).with_name("profiles") / f"{bench}-{checkout}.txt"
    output.parent.mkdir(exist_ok=True)
    output.write_text("".join(report))
