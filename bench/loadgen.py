"""The benchmarks' harness: servers in subprocesses, their CPU read from /proc, and a cheap HTTP/1.1 client.

Requests go over raw asyncio streams so the client costs little CPU; a server's own CPU time is read from
/proc (all its threads, so SQLite's worker thread counts too), which is what the targets are about and is
steadier than wall-clock rates on a noisy 2-core machine.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU of the whole process (every thread) and of the children it runs (the broker
    generates signing keys in a child process), from /proc."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return own + sum(process_cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children += [int(child) for child in handle.read().split()]
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return children


def before_source() -> str:
    """BENCH_BEFORE: another checkout of the broker (such as the last release) to measure beside this one."""
    return os.environ.get("BENCH_BEFORE", "")


@dataclass(frozen=True)
class Server:
    address: str  # host:port
    pid: int

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def broker_servers(stack: ExitStack, env: dict[str, str]) -> dict[str, Server]:
    """This checkout's broker, and beside it the one at BENCH_BEFORE when that names a checkout, each serving
    until `stack` closes."""
    servers = {"broker": stack.enter_context(uvicorn_server("broker.app:create_app", env, factory=True))}
    if before_source():
        servers["broker before"] = stack.enter_context(
            uvicorn_server("broker.app:create_app", env, factory=True, source=before_source())
        )
    return servers


@contextmanager
def uvicorn_server(
    app: str, env: dict[str, str], *, factory: bool = False, port: int | None = None, source: str = ""
) -> Iterator[Server]:
    """Serves `app` with one uvicorn worker in a subprocess; from the checkout at `source` when given, with that
    checkout's own virtualenv when it has one (so a change of dependencies is measured too)."""
    port = port or free_port()
    python = sys.executable
    if source:
        # `python -m` puts the working directory first on the path, so the server runs from the checkout.
        env = {**env, "PYTHONPATH": source}
        own = Path(source) / ".venv" / "bin" / "python"
        python = str(own) if own.exists() else python
    command = [python, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    if factory:
        command.append("--factory")
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=source or None)  # noqa: S603 - fixed arguments
    try:
        _wait_for_port(port, process)
        yield Server(f"127.0.0.1:{port}", process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on {port} within {timeout} s")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection, as a browser holding no cookies uses it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str) -> None:
        self.reader = reader
        self.writer = writer
        self.address = address

    @classmethod
    async def open(cls, address: str, source: str | None = None) -> Connection:
        """`source`: the loopback address to connect from (127.0.0.0/8), so each simulated person has their own."""
        host, port = address.split(":")
        local = (source, 0) if source else None
        reader, writer = await asyncio.open_connection(host, int(port), local_addr=local)
        return cls(reader, writer, address)

    def close(self) -> None:
        self.writer.close()

    async def get(self, target: str, extra_head: str = "") -> Answer:
        """`extra_head`: more header lines, each ending in CRLF."""
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.address}\r\n{extra_head}\r\n".encode())
        return await self._answer()

    async def post_form(self, target: str, fields: Sequence[tuple[str, str]] | bytes, extra_head: str = "") -> Answer:
        """`extra_head`: more header lines, each ending in CRLF."""
        body = fields if isinstance(fields, bytes) else urlencode(fields).encode()
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {self.address}\r\n{extra_head}"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        return await self._answer()

    async def _answer(self) -> Answer:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise RuntimeError(f"an answer without Content-Length: {head[:200]!r}")
        body = await self.reader.readexactly(int(headers["content-length"]))
        return Answer(int(lines[0].split()[1]), headers, body)


@dataclass(frozen=True)
class Form:
    action: str
    fields: tuple[tuple[str, str], ...]

    def value(self, name: str) -> str:
        return next(value for key, value in self.fields if key == name)


class _FormParser(HTMLParser):
    """What a browser submits for each form when nobody touches it: hidden and text values, ticked boxes,
    selected options (or the first)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, list[tuple[str, str]]]] = []
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append((attributes.get("method", "get").lower(), attributes.get("action", ""), []))
        elif tag == "option":
            if self._select is not None:
                self._select[1].append((attributes.get("value", ""), "selected" in attributes))
        elif not self.forms or "name" not in attributes:
            return
        elif tag == "input":
            kind = attributes.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                return
            if kind not in ("submit", "button", "image", "reset", "file"):
                default = "on" if kind in ("checkbox", "radio") else ""
                self.forms[-1][2].append((attributes["name"], attributes.get("value", default)))
        elif tag == "select":
            self._select = (attributes["name"], [])
        elif tag == "textarea":
            self._textarea = attributes["name"]
            self.forms[-1][2].append((self._textarea, ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, text = self.forms[-1][2].pop()
            self.forms[-1][2].append((name, text + data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [value for value, selected in options if selected] or [value for value, _ in options[:1]]
            self.forms[-1][2].extend((name, value) for value in chosen)
            self._select = None


def post_forms(page: bytes, base_path: str) -> list[Form]:
    """The page's POST forms with their default values (an empty action posts back to `base_path`)."""
    parser = _FormParser()
    parser.feed(page.decode())
    parser.close()
    return [Form(action or base_path, tuple(fields)) for method, action, fields in parser.forms if method == "post"]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]
