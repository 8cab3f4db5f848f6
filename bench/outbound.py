"""The outbound client's own cost per call, in-process: a registration's two calls (the platform's configuration
GET, read as JSON, and the registration POSTed as JSON) through `GuardedClient`, beside the in-run baseline, the
same two requests through a bare aiohttp session on the same loopback server. The server runs in a process of its
own (answering every request at once with a fixed JSON body over kept connections), so the process's CPU time is
the client's alone. Times are µs of CPU per call, best of ROUNDS. With BENCH_BEFORE, that checkout measures the
same in a process of its own, alternating with this one's.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult

ROUNDS = 5
NUMBER = 300
PROCESSES = 3
HOST = "platform.bench"
_BODY = json.dumps({"issuer": "https://platform.bench", "registration_endpoint": "x" * 40, "scopes": ["a"] * 20})
_ANSWER = (
    "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: "
    f"{len(_BODY)}\r\nCache-Control: no-store\r\n\r\n{_BODY}"
).encode()
_REGISTRATION = {"application_type": "web", "redirect_uris": ["https://tool.example/launch"], "scope": "a b c"}


class _Platform(asyncio.Protocol):
    """Answers each request (a head, and a body as long as its Content-Length) with the fixed answer."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buffer[:end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            if len(self._buffer) < end + 4 + length:
                return
            self._buffer = self._buffer[end + 4 + length :]
            self._transport.write(_ANSWER)


def _serve() -> None:
    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(_Platform, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


async def measure(best_cpu: Callable[..., Coroutine[Any, Any, float]], port: str) -> dict[str, float]:
    """This process's figures, for the checkout its `broker` package comes from."""

    async def _best(run: Callable[[], Awaitable[None]]) -> float:
        """µs of CPU per call of `run`, best of ROUNDS rounds of NUMBER calls, after a few to open connections."""
        for _ in range(20):
            await run()
        figure: float = await best_cpu(run, rounds=ROUNDS, number=NUMBER)
        return figure

    import aiohttp

    from broker import http_client
    from broker.http_client import GuardedClient, Purpose

    base = f"http://{HOST}:{port}"

    async def resolve(host: str, _port: int) -> list[str]:
        return ["127.0.0.1"]

    options: dict[str, Any] = {"user_agent": "bench/1", "allow_insecure": True, "resolver": resolve}
    if hasattr(http_client, "OutboundOptions"):
        client = GuardedClient(http_client.OutboundOptions(**options))
    else:  # a checkout from before the options were one object (BENCH_BEFORE)
        client = GuardedClient(**options)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_StaticResolver()))

    async def guarded_get() -> None:
        response = await client.get(base + "/.well-known/openid-configuration", purpose=Purpose.REGISTRATION)
        response.json()

    async def guarded_post() -> None:
        response = await client.post_json(
            base + "/lti/registrations", _REGISTRATION, purpose=Purpose.REGISTRATION, headers={"Authorization": "x"}
        )
        response.json()

    async def bare_get() -> None:
        async with session.get(base + "/.well-known/openid-configuration") as answer:
            json.loads(await answer.read())

    async def bare_post() -> None:
        async with session.post(base + "/lti/registrations", json=_REGISTRATION, headers={"Authorization": "x"}) as a:
            json.loads(await a.read())

    figures: dict[str, float] = {}
    for _ in range(2):  # alternating, so that neither has the machine's quieter moments to itself
        runs = {"get": guarded_get, "bare get": bare_get, "post": guarded_post, "bare post": bare_post}
        for name, run in runs.items():
            figures[name] = min(figures.get(name, float("inf")), await _best(run))
    await client.aclose()
    await session.close()
    return figures


class _StaticResolver(AbstractResolver):
    """aiohttp's resolver for the baseline: the bench's host is loopback, nothing looked up."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0,
                          flags=socket.AI_NUMERICHOST)
        ]  # fmt: skip

    async def close(self) -> None:
        pass


def main() -> None:
    from bench.inprocess import best_of_processes

    server = subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-P", __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        best = best_of_processes(__file__, PROCESSES, str(port))
    finally:
        server.terminate()
        server.wait()
    print(
        f"outbound client, µs of CPU a call on loopback (best of {PROCESSES} processes, {ROUNDS} rounds of {NUMBER}),"
        " against a bare aiohttp session's same request in the same process:"
    )
    for name, figures in best.items():
        own = (figures["get"] + figures["post"] - figures["bare get"] - figures["bare post"]) / 2
        print(
            f"  {name}: configuration GET {figures['get']:.0f} (bare {figures['bare get']:.0f}, "
            f"{figures['get'] / figures['bare get']:.2f}x), registration POST {figures['post']:.0f} "
            f"(bare {figures['bare post']:.0f}, {figures['post'] / figures['bare post']:.2f}x); "
            f"the client's own per call {own:.0f}"
        )


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    _serve()
