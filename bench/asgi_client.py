"""What the counting benches (registration_counts, launch_counts) share: a broker on a SQLite database of its own
with one tenant, and its app called as ASGI with no server, the process's CPU of those calls added up; and, for
launch_counts, sqlite3's trace of every connection the app opens, by step, removed before any CPU is timed (a trace
callback inflates it).

Loaded by its file (bench/ is no package on the measuring process's path, see bench/inprocess.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

BASE_URL = "http://broker.bench"
_HOST = b"broker.bench"
_SCOPE = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http", "root_path": "",
    "client": ("127.0.0.2", 50000), "server": ("127.0.0.1", 8000),
}  # fmt: skip


def broker_with_tenant() -> tuple[str, Path]:
    """Points this process's broker at a new SQLite database (limits raised out of the way), migrates it and makes
    a tenant; answers its slug and the database's file."""
    database = Path(tempfile.mkdtemp()) / "bench.db"
    os.environ.update({
        "BROKER_DATABASE_URL": f"sqlite:///{database}",
        "BROKER_SECRET_KEY": "bench-secret-key-" + "b" * 40,
        "BROKER_BASE_URL": BASE_URL,
        "BROKER_ALLOW_INSECURE_PLATFORMS": "1",
        "BROKER_RUN_WORKER": "0",
        "BROKER_PUBLIC_RATE_LIMIT": "1000000",
        "BROKER_TENANT_RATE_LIMIT": "1000000",
        "BROKER_REGISTRATION_FETCH_LIMIT": "1000000",
        "BROKER_LOG_LEVEL": "WARNING",
    })  # fmt: skip
    broker("db", "upgrade")
    slug = "bench-" + secrets.token_hex(4)
    broker("tenants", "create", slug, "--name", "Bench Tool", "--tool-url", "https://tool.bench/launch")
    return slug, database


def broker(*arguments: str) -> str:
    """The output of this checkout's `broker` command."""
    command = [str(Path(sys.executable).with_name("broker")), *arguments]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603 - fixed arguments


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
