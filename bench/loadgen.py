"""A small keep-alive HTTP/1.1 load generator and a server-process harness for the benchmarks.

Requests go over raw asyncio streams so the client costs little CPU; the server's own CPU time is read from
/proc, which is what the targets are about and is steadier than wall-clock rates on a noisy 2-core machine.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    server_cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_seconds / self.requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextmanager
def uvicorn_server(app: str, env: dict[str, str], *, factory: bool = False) -> Iterator[tuple[str, int]]:
    """Serves `app` with one uvicorn worker in a subprocess; yields (host:port, pid)."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    if factory:
        command.append("--factory")
    process = subprocess.Popen(command, env={**os.environ, **env})  # noqa: S603 - fixed arguments
    try:
        _wait_for_port(port, process)
        yield f"127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
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


async def _worker(address: str, path: str, count: int) -> None:
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = f"GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n".encode()
    try:
        for _ in range(count):
            writer.write(request)
            await _read_response(reader)
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {head[:60]!r}")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)


def measure_get(address: str, pid: int, path: str, *, requests: int, concurrency: int) -> Result:
    """Runs `requests` GETs over `concurrency` keep-alive connections after a warm-up."""
    asyncio.run(_run(address, path, max(concurrency * 20, 200), concurrency))
    cpu_before = process_cpu_seconds(pid)
    started = time.perf_counter()
    asyncio.run(_run(address, path, requests, concurrency))
    elapsed = time.perf_counter() - started
    return Result(requests, elapsed, process_cpu_seconds(pid) - cpu_before)


async def _run(address: str, path: str, requests: int, concurrency: int) -> None:
    share = requests // concurrency
    await asyncio.gather(*(_worker(address, path, share) for _ in range(concurrency)))
