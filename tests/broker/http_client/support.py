"""Fakes and loopback servers shared by the guarded client's tests."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from broker.http_client import GuardedClient, OutboundOptions
from broker.http_client.transport import GuardedTransport

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


class CountingDNS(FakeDNS):
    """A FakeDNS that counts the questions it was asked."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        super().__init__(records)
        self.asked = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked += 1
        return await super().__call__(host, port)


class RebindingDNS:
    """Answers a public address the first time and loopback afterwards, as a rebinding attacker would."""

    def __init__(self) -> None:
        self.answers = [[PUBLIC_IP]]

    async def __call__(self, host: str, port: int) -> list[str]:
        return self.answers.pop(0) if self.answers else ["127.0.0.1"]


PLATFORM_DNS = {"platform.test": [PUBLIC_IP], "other.test": [OTHER_PUBLIC_IP]}


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
    with serving_app(platform_app(hits), cert_file, key_file) as port:
        yield LiveServer(port=port, hits=hits)


@contextlib.contextmanager
def serving_app(app: ASGIApp, cert_file: str | None = None, key_file: str | None = None) -> Iterator[int]:
    """Serve `app` on 127.0.0.1 from a background thread, on a socket bound before it starts; its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
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
        yield int(sock.getsockname()[1])
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
    """A test CA and a certificate for platform.test and other.test only (not for 127.0.0.1), in `folder`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        _certificate("Test CA", ca_key, "Test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        _certificate("platform.test", key, "Test CA", ca_key)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("platform.test"), x509.DNSName("other.test")]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Pki(ca.public_bytes(serialization.Encoding.PEM), str(folder / "cert.pem"), str(folder / "key.pem"))


# --- A scripted platform: public names served from loopback, over TLS, answering as each test says ---


@dataclass(frozen=True)
class Sent:
    """A request as the platform received it."""

    method: str
    url: str
    headers: Headers
    content: bytes


Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class ScriptedRoute:
    method: str | None
    host: str | None
    path: str | None
    handler: Handler | None = None
    calls: list[Sent] = field(default_factory=list)

    @property
    def called(self) -> bool:
        return bool(self.calls)

    def matches(self, request: Request) -> bool:
        return (
            self.method in (None, request.method)
            and self.host in (None, request.url.hostname)
            and self.path in (None, request.url.path)
        )

    def mock(self, handler: Handler) -> ScriptedRoute:
        self.handler = handler
        return self

    def respond(
        self,
        status: int = 200,
        *,
        headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
        json: Any = None,
        text: str | None = None,
        chunks: list[bytes] | None = None,
        then_hang: bool = False,
        delay: float = 0,
    ) -> ScriptedRoute:
        """Answer with `status`, `headers` (repeated names kept) and a body: `json`, `text`, or `chunks` sent one
        at a time (chunked, unless the headers give a length); with `then_hang`, the body never ends. The answer
        starts `delay` seconds after the request."""

        async def answer(request: Request) -> Response:
            await asyncio.sleep(delay)
            response: Response
            if chunks is not None:
                response = StreamingResponse(_stream(chunks, then_hang), status_code=status)
            elif json is not None:
                response = JSONResponse(json, status_code=status)
            else:
                response = Response(text or "", status_code=status)
            pairs = headers.items() if isinstance(headers, Mapping) else headers or []
            replaced = {name.lower() for name, _ in pairs} & {"content-type", "content-length"}
            response.raw_headers[:] = [
                *[(name, value) for name, value in response.raw_headers if name.decode() not in replaced],
                *[(name.lower().encode(), value.encode()) for name, value in pairs],
            ]
            return response

        return self.mock(answer)


def chunked(content: bytes, size: int = 65_536) -> list[bytes]:
    """`content` in pieces of `size` bytes, to be sent one at a time as the network would."""
    return [content[start : start + size] for start in range(0, len(content), size)]


async def _stream(chunks: list[bytes], then_hang: bool) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
    if then_hang:
        await asyncio.Event().wait()


class ScriptedPlatform:
    """Every platform name a test uses, served by one loopback TLS server; what is not scripted answers 404."""

    def __init__(self, port: int, ca_pem: bytes) -> None:
        self.port = port
        self.ca_pem = ca_pem
        self.routes: list[ScriptedRoute] = []
        self.calls: list[Sent] = []

    def route(self, method: str | None = None, url: str | None = None, *, host: str | None = None) -> ScriptedRoute:
        path = None
        if url is not None:
            parsed = httpx.URL(url)
            host, path = parsed.host, parsed.path
        route = ScriptedRoute(method, host, path)
        self.routes.append(route)
        return route

    def get(self, url: str) -> ScriptedRoute:
        return self.route("GET", url)

    def post(self, url: str) -> ScriptedRoute:
        return self.route("POST", url)

    def reset(self) -> None:
        self.routes.clear()
        self.calls.clear()

    def transport(self, **options: Any) -> GuardedTransport:
        """The guarded network layer (its connect-time checks included) trusting the test CA, sending every
        connection to this server."""
        trusting = ssl.create_default_context(cadata=self.ca_pem.decode())
        return LoopbackTransport(self.port, ssl_context=trusting, **options)

    def client(self, *, max_redirects: int = 3, **options: Any) -> GuardedClient:
        """A client in secure mode whose names resolve to public addresses, as on the internet, connected here."""
        options.setdefault("resolver", FakeDNS(PLATFORM_DNS))
        return GuardedClient(
            OutboundOptions(user_agent=USER_AGENT, **options), max_redirects=max_redirects, transport=self.transport()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        sent = Sent(request.method, str(request.url), request.headers, await request.body())
        self.calls.append(sent)
        for route in self.routes:
            if route.matches(request) and route.handler is not None:
                route.calls.append(sent)
                response = await route.handler(request)
                break
        else:
            response = Response("not scripted", status_code=404)
        await response(scope, receive, send)


class LoopbackTransport(GuardedTransport):
    """The guarded network layer with every connection sent to 127.0.0.1:`port`, after the same checks."""

    def __init__(self, port: int, **options: Any) -> None:
        options.setdefault("resolver", _loopback_dns)
        super().__init__(allow_private=True, **options)
        self._port = port

    def _connect_resolver(self) -> AbstractResolver:
        return _ToPort(super()._connect_resolver(), self._port)


async def _loopback_dns(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


class _ToPort(AbstractResolver):
    def __init__(self, resolver: AbstractResolver, port: int) -> None:
        self._resolver = resolver
        self._port = port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [{**found, "port": self._port} for found in await self._resolver.resolve(host, port, family)]

    async def close(self) -> None:
        await self._resolver.close()


@contextlib.contextmanager
def scripted_platform(pki: Pki) -> Iterator[ScriptedPlatform]:
    platform = ScriptedPlatform(0, pki.ca_pem)
    with serving_app(platform, cert_file=pki.cert_file, key_file=pki.key_file) as port:
        platform.port = port
        yield platform


@contextlib.asynccontextmanager
async def raw_server(answer: bytes) -> AsyncIterator[int]:
    """A server that reads a request's head and sends `answer` as is; its port."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@contextlib.contextmanager
def unaccepting_port() -> Iterator[int]:
    """A port whose connects never complete: its listening socket's queue is full and never accepted from, so
    the kernel drops further handshakes."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        fillers = []
        try:
            for _ in range(3):
                filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
                fillers.append(filler)
            yield port
        finally:
            for filler in fillers:
                filler.close()
