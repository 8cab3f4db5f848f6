"""Fakes and loopback servers shared by the guarded client's tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from broker.http_client import (
    GuardedClient,
)

USER_AGENT = "lti-broker-tests/1.0 (+https://broker.test)"
PUBLIC_IP = "93.184.215.14"
OTHER_PUBLIC_IP = "151.101.1.69"


class FakeDNS:
    """A resolver answering from a table, so tests need no network."""

    def __init__(self, records: dict[str, list[str]] | None = None) -> None:
        self.records = records or {}

    async def __call__(self, host: str, port: int) -> list[str]:
        if host not in self.records:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.records[host]


class RebindingDNS:
    """Answers a public address the first time and loopback afterwards, as a rebinding attacker would."""

    def __init__(self) -> None:
        self.answers = [[PUBLIC_IP]]

    async def __call__(self, host: str, port: int) -> list[str]:
        return self.answers.pop(0) if self.answers else ["127.0.0.1"]


class Chunked(httpx.AsyncByteStream):
    """A body sent as the network would, a piece at a time (an in-memory body would be decoded at once)."""

    def __init__(self, content: bytes, size: int = 65_536) -> None:
        self.content = content
        self.size = size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.content), self.size):
            yield self.content[start : start + self.size]


PLATFORM_DNS = {"platform.test": [PUBLIC_IP], "other.test": [OTHER_PUBLIC_IP]}


@contextlib.asynccontextmanager
async def mocked_client(router: respx.Router, **options: Any) -> AsyncIterator[GuardedClient]:
    options.setdefault("resolver", FakeDNS(PLATFORM_DNS))
    client = GuardedClient(
        user_agent=USER_AGENT,
        transport=httpx.MockTransport(router.async_handler),
        **options,
    )
    async with client:
        yield client


@dataclass
class LiveServer:
    port: int
    hits: list[str] = field(default_factory=list)

    def url(self, path: str, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


def platform_app(hits: list[str]) -> Starlette:
    async def config(request: Request) -> Response:
        hits.append(request.url.path)
        assert request.client is not None
        return JSONResponse({"user_agent": request.headers.get("user-agent"), "client_port": request.client.port})

    async def slow(request: Request) -> Response:
        hits.append(request.url.path)
        await asyncio.sleep(1.0)
        return JSONResponse({})

    async def moved(request: Request) -> Response:
        hits.append(request.url.path)
        return RedirectResponse("/config", status_code=302)

    async def token(request: Request) -> Response:
        hits.append(request.url.path)
        return JSONResponse({"access_token": "granted", "token_type": "Bearer", "expires_in": 3600})

    return Starlette(
        routes=[
            Route("/config", config),
            Route("/slow", slow),
            Route("/moved", moved),
            Route("/token", token, methods=["POST"]),
        ]
    )


@contextlib.contextmanager
def serving(hits: list[str], cert_file: str | None = None, key_file: str | None = None) -> Iterator[LiveServer]:
    """Serve the platform app on 127.0.0.1 from a background thread, on a socket bound before it starts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        platform_app(hits),
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
        ssl_certfile=cert_file,
        ssl_keyfile=key_file,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.01)
        yield LiveServer(port=sock.getsockname()[1], hits=hits)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "the test server did not stop"


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SilentServer:
    """A platform that accepts connections and reads requests, but answers none until released."""

    port: int
    connections: list[asyncio.StreamWriter]
    release: asyncio.Event

    def url(self, path: str, host: str) -> str:
        return f"http://{host}:{self.port}{path}"


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[SilentServer]:
    connections: list[asyncio.StreamWriter] = []
    release = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield SilentServer(server.sockets[0].getsockname()[1], connections, release)
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def eventually(condition: Callable[[], bool], *, seconds: float = 10.0) -> None:
    """Wait until `condition()` holds; a TimeoutError after `seconds` fails the test."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (a plain condition, with no event to wait on)
            await asyncio.sleep(0.01)
