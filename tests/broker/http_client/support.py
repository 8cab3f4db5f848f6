"""Fakes and loopback servers shared by the guarded client's tests."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import respx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
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

    async def echo(request: Request) -> Response:
        """What a webhook post brought (its headers, body and connection), with a cookie to see if it comes back."""
        hits.append(request.url.path)
        assert request.client is not None
        answer = JSONResponse(
            {
                "headers": dict(request.headers),
                "body": (await request.body()).decode(),
                "client_port": request.client.port,
            }
        )
        answer.set_cookie("session", "kept-by-no-one")
        return answer

    async def token(request: Request) -> Response:
        hits.append(request.url.path)
        return JSONResponse({"access_token": "granted", "token_type": "Bearer", "expires_in": 3600})

    return Starlette(
        routes=[
            Route("/config", config),
            Route("/slow", slow),
            Route("/moved", moved, methods=["GET", "POST"]),
            Route("/echo", echo, methods=["POST"]),
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


@dataclass
class HangingUp:
    """A server that answers one request per connection, then closes it without saying so in the answer."""

    url: str
    ports: list[int]  # the client's port of each request
    answered: asyncio.Event


@contextlib.asynccontextmanager
async def hanging_up_server() -> AsyncIterator[HangingUp]:
    ports: list[int] = []
    answered = asyncio.Event()

    async def answer_once_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        ports.append(writer.get_extra_info("peername")[1])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        answered.set()
        writer.close()  # as a server whose keep-alive ran out does

    server = await asyncio.start_server(answer_once_then_hang_up, "127.0.0.1", 0)
    try:
        yield HangingUp(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook", ports, answered)
    finally:
        server.close()
        await server.wait_closed()


@dataclass(frozen=True)
class Pki:
    ca_pem: bytes
    cert_file: str
    key_file: str


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )


def make_pki(folder: Path) -> Pki:
    """A test CA and a certificate for platform.test only (not for 127.0.0.1), written in `folder`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        _certificate("Test CA", ca_key, "Test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        _certificate("platform.test", key, "Test CA", ca_key)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("platform.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Pki(ca.public_bytes(serialization.Encoding.PEM), str(folder / "cert.pem"), str(folder / "key.pem"))
