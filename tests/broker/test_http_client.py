"""Tests for the guarded outbound HTTP client: what it refuses, what it sends, and what it returns."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
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
    InvalidJSONError,
    OutboundConnectionError,
    OutboundResponse,
    OutboundTimeoutError,
    ResponseTooLargeError,
    TooManyRedirectsError,
    UnsafeURLError,
    _BlockedAddressError,
    _GuardedNetworkBackend,
    _GuardedTransport,
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


PLATFORM_DNS = {"platform.test": [PUBLIC_IP], "other.test": [OTHER_PUBLIC_IP]}


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(assert_all_called=False)


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


@pytest.fixture
async def client(router: respx.Router) -> AsyncIterator[GuardedClient]:
    async with mocked_client(router) as guarded:
        yield guarded


# --- URL and address refusal, before any request ---


@pytest.mark.parametrize(
    "url",
    [
        "http://platform.test/.well-known/openid-configuration",
        "ftp://platform.test/config",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "/relative/openid-configuration",
        "platform.test/openid-configuration",
        "https:///no-host",
        "https://admin:hunter2@platform.test/config",
    ],
)
async def test_refuses_anything_but_an_absolute_https_url_without_credentials(
    router: respx.Router, client: GuardedClient, url: str
) -> None:
    router.route().respond(200, json={})

    with pytest.raises(UnsafeURLError):
        await client.get(url)

    assert not router.calls


@pytest.mark.parametrize(
    "url", ["ftp://platform.test/config", "file:///etc/passwd", "gopher://platform.test/"]
)
async def test_insecure_mode_still_refuses_other_schemes(router: respx.Router, url: str) -> None:
    router.route().respond(200, json={})

    async with mocked_client(router, allow_insecure=True) as client:
        with pytest.raises(UnsafeURLError):
            await client.get(url)

    assert not router.calls


@pytest.mark.parametrize("host", ["169.254.169.254", "[fe80::1]", "224.0.0.1", "0.0.0.0"])  # noqa: S104
async def test_insecure_mode_still_refuses_metadata_and_non_host_addresses(
    router: respx.Router, host: str
) -> None:
    router.route().respond(200, json={})

    async with mocked_client(router, allow_insecure=True) as client:
        with pytest.raises(UnsafeURLError):
            await client.get(f"http://{host}/latest/meta-data/")

    assert not router.calls


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.20.30.40", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::ffff:a9fe:a9fe]", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (a URL host, not a bind)
        ("100.64.0.1", "shared"),
        ("[2002:7f00:1::]", "loopback"),
        ("[64:ff9b::a00:1]", "private"),
        ("[fe80::1]", "link-local"),
        ("[fc00::1]", "private"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
    ],
)
async def test_refuses_blocked_addresses_before_any_request(
    router: respx.Router, client: GuardedClient, host: str, kind: str
) -> None:
    router.route().respond(200, json={})

    with pytest.raises(UnsafeURLError) as caught:
        await client.get(f"https://{host}/.well-known/openid-configuration")

    assert kind in caught.value.reason
    assert not router.calls


async def test_refuses_a_name_when_any_of_its_addresses_is_blocked(router: respx.Router) -> None:
    router.route().respond(200, json={})
    dns = FakeDNS({"mixed.test": [PUBLIC_IP, "10.0.0.7"]})

    async with mocked_client(router, resolver=dns) as client:
        with pytest.raises(UnsafeURLError) as caught:
            await client.get("https://mixed.test/config")

    assert "10.0.0.7" in caught.value.reason
    assert not router.calls


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0x7f.0.0.1"])
async def test_refuses_numeric_host_spellings_of_loopback(router: respx.Router, host: str) -> None:
    router.route().respond(200, json={})

    # The system resolver turns these inet_aton spellings into 127.0.0.1 without any network.
    async with mocked_client(router, resolver=None) as client:
        with pytest.raises(UnsafeURLError):
            await client.get(f"https://{host}/config")

    assert not router.calls


async def test_an_unresolvable_host_is_a_connection_error(
    router: respx.Router, client: GuardedClient
) -> None:
    router.route().respond(200, json={})

    with pytest.raises(OutboundConnectionError) as caught:
        await client.get("https://nowhere.test/config")

    assert "nowhere.test" in caught.value.reason
    assert not router.calls


async def test_a_public_host_is_fetched(router: respx.Router, client: GuardedClient) -> None:
    router.get("https://platform.test/config").respond(200, json={"issuer": "https://platform.test"})

    response = await client.get("https://platform.test/config")

    assert response.is_success
    assert response.json() == {"issuer": "https://platform.test"}
    assert response.url == "https://platform.test/config"


async def test_error_messages_leave_out_query_strings_and_headers(router: respx.Router) -> None:
    router.get("https://platform.test/slow").mock(side_effect=httpx.ReadTimeout("timed out"))

    async with mocked_client(router) as client:
        with pytest.raises(UnsafeURLError) as blocked:
            await client.get("https://10.0.0.1/register?registration_token=SECRET-TOKEN")
        with pytest.raises(OutboundTimeoutError) as timed_out:
            await client.get(
                "https://platform.test/slow?registration_token=SECRET-TOKEN",
                headers={"Authorization": "Bearer SECRET-TOKEN"},
            )

    for error in (blocked.value, timed_out.value):
        assert "SECRET-TOKEN" not in str(error)
        assert "SECRET-TOKEN" not in error.url
        assert "registration_token" not in error.url


# --- Redirects ---


async def test_a_redirect_to_a_blocked_address_is_refused(
    router: respx.Router, client: GuardedClient
) -> None:
    router.get("https://platform.test/config").respond(
        302, headers={"Location": "https://169.254.169.254/latest/meta-data/"}
    )
    metadata = router.get("https://169.254.169.254/latest/meta-data/").respond(200, text="secrets")

    with pytest.raises(UnsafeURLError):
        await client.get("https://platform.test/config")

    assert not metadata.called


async def test_a_redirect_to_plain_http_is_refused(router: respx.Router, client: GuardedClient) -> None:
    router.get("https://platform.test/config").respond(
        301, headers={"Location": "http://platform.test/config"}
    )
    plain = router.get("http://platform.test/config").respond(200, json={})

    with pytest.raises(UnsafeURLError):
        await client.get("https://platform.test/config")

    assert not plain.called


def redirect_chain(router: respx.Router, hops: int) -> None:
    for index in range(hops):
        router.get(f"https://platform.test/hop/{index}").respond(
            302, headers={"Location": f"/hop/{index + 1}"}
        )
    router.get(f"https://platform.test/hop/{hops}").respond(200, json={"hops": hops})


async def test_follows_up_to_the_redirect_limit(router: respx.Router, client: GuardedClient) -> None:
    redirect_chain(router, hops=3)

    response = await client.get("https://platform.test/hop/0")

    assert response.json() == {"hops": 3}
    assert response.url == "https://platform.test/hop/3"


async def test_one_redirect_past_the_limit_fails(router: respx.Router, client: GuardedClient) -> None:
    redirect_chain(router, hops=4)

    with pytest.raises(TooManyRedirectsError):
        await client.get("https://platform.test/hop/0")

    assert len(router.calls) == 4


async def test_redirect_limit_is_configurable(router: respx.Router) -> None:
    redirect_chain(router, hops=1)

    async with mocked_client(router, max_redirects=0) as client:
        with pytest.raises(TooManyRedirectsError):
            await client.get("https://platform.test/hop/0")


async def test_authorization_is_not_forwarded_to_another_origin(
    router: respx.Router, client: GuardedClient
) -> None:
    router.get("https://platform.test/token").respond(302, headers={"Location": "https://other.test/token"})
    other = router.get("https://other.test/token").respond(200, json={})

    await client.get("https://platform.test/token", headers={"Authorization": "Bearer reg-token"})

    assert other.called
    assert "authorization" not in other.calls.last.request.headers


async def test_authorization_is_kept_on_a_same_origin_redirect(
    router: respx.Router, client: GuardedClient
) -> None:
    router.get("https://platform.test/token").respond(302, headers={"Location": "/token/v2"})
    moved = router.get("https://platform.test/token/v2").respond(200, json={})

    await client.get("https://platform.test/token", headers={"Authorization": "Bearer reg-token"})

    assert moved.calls.last.request.headers["authorization"] == "Bearer reg-token"


async def test_a_post_does_not_follow_redirects_by_default(
    router: respx.Router, client: GuardedClient
) -> None:
    router.post("https://platform.test/register").respond(307, headers={"Location": "https://other.test/x"})
    other = router.route(host="other.test").respond(201, json={})

    response = await client.post_json("https://platform.test/register", {"client_name": "Tool"})

    assert response.status_code == 307
    assert not other.called


async def test_a_307_resends_the_post_body_when_following(
    router: respx.Router, client: GuardedClient
) -> None:
    router.post("https://platform.test/register").respond(307, headers={"Location": "/register/v2"})
    moved = router.post("https://platform.test/register/v2").respond(201, json={"client_id": "abc"})

    response = await client.request(
        "POST", "https://platform.test/register", json={"client_name": "Tool"}, follow_redirects=True
    )

    assert response.status_code == 201
    assert json.loads(moved.calls.last.request.content) == {"client_name": "Tool"}


async def test_a_303_becomes_a_get_without_the_body(router: respx.Router, client: GuardedClient) -> None:
    router.post("https://platform.test/register").respond(303, headers={"Location": "/done"})
    done = router.get("https://platform.test/done").respond(200, json={})

    await client.request("POST", "https://platform.test/register", json={"a": 1}, follow_redirects=True)

    sent = done.calls.last.request
    assert sent.content == b""
    assert "content-type" not in sent.headers


# --- Response size ---


class CountingStream(httpx.AsyncByteStream):
    """A body of `chunks` chunks of `size` bytes that records how much of it was read."""

    def __init__(self, chunks: int, size: int) -> None:
        self.chunks = chunks
        self.size = size
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.sent += 1
            yield b"x" * self.size


async def test_a_declared_content_length_over_the_cap_is_refused_unread(router: respx.Router) -> None:
    body = CountingStream(chunks=10, size=1000)
    router.get("https://platform.test/jwks").respond(200, headers={"Content-Length": "10000"}, stream=body)

    async with mocked_client(router, max_response_bytes=5000) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.get("https://platform.test/jwks")

    assert body.sent == 0


async def test_a_streamed_body_over_the_cap_is_cut_off(router: respx.Router) -> None:
    body = CountingStream(chunks=100, size=1000)
    router.get("https://platform.test/jwks").respond(200, stream=body)

    async with mocked_client(router, max_response_bytes=5000) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.get("https://platform.test/jwks")

    assert body.sent <= 6


async def test_a_body_exactly_at_the_cap_is_accepted(router: respx.Router) -> None:
    router.get("https://platform.test/jwks").respond(200, stream=CountingStream(chunks=5, size=1000))

    async with mocked_client(router, max_response_bytes=5000) as client:
        response = await client.get("https://platform.test/jwks")

    assert len(response.content) == 5000


# --- Timeouts and connection failures ---


async def test_the_total_timeout_covers_the_whole_redirect_chain(router: respx.Router) -> None:
    hops: list[str] = []

    async def slow_hop(request: httpx.Request) -> httpx.Response:
        hops.append(request.url.path)
        await asyncio.sleep(0.15)
        step = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(302, headers={"Location": f"/hop/{step + 1}"})

    router.route(host="platform.test").mock(side_effect=slow_hop)

    # No single hop comes near the connect or read timeout; only the total can stop the chain.
    async with mocked_client(router, total_timeout=0.4) as client:
        started = time.monotonic()
        with pytest.raises(OutboundTimeoutError) as caught:
            await client.get("https://platform.test/hop/0")

    assert time.monotonic() - started < 1.0
    assert len(hops) >= 2
    assert "0.4 s" in caught.value.reason


@pytest.mark.parametrize("error", [httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow")])
async def test_transport_timeouts_are_timeout_errors(
    router: respx.Router, client: GuardedClient, error: Exception
) -> None:
    router.get("https://platform.test/config").mock(side_effect=error)

    with pytest.raises(OutboundTimeoutError):
        await client.get("https://platform.test/config")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError("Connection refused"), "Connection refused"),
        (httpx.RemoteProtocolError("illegal status line"), "no valid HTTP response"),
    ],
)
async def test_transport_failures_are_connection_errors(
    router: respx.Router, client: GuardedClient, error: Exception, expected: str
) -> None:
    router.get("https://platform.test/config").mock(side_effect=error)

    with pytest.raises(OutboundConnectionError) as caught:
        await client.get("https://platform.test/config")

    assert expected in caught.value.reason


# --- Response content ---


def response(content: bytes, content_type: str | None) -> OutboundResponse:
    headers = httpx.Headers({"Content-Type": content_type} if content_type else {})
    return OutboundResponse("https://platform.test/x?token=t", 200, headers, content)


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "application/jwk-set+json"],
)
def test_json_accepts_json_media_types(content_type: str | None) -> None:
    assert response(b'{"keys": []}', content_type).json() == {"keys": []}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"<html>Sign in</html>", "text/html"),
        (b'{"keys": []}', "text/html; charset=utf-8"),
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"\xff\xfe\x00", None),
    ],
)
def test_json_refuses_anything_else(content: bytes, content_type: str | None) -> None:
    with pytest.raises(InvalidJSONError) as caught:
        response(content, content_type).json()

    assert caught.value.url == "https://platform.test/x"


def test_text_uses_the_declared_charset_and_replaces_bad_bytes() -> None:
    assert response("café".encode("latin-1"), "text/plain; charset=iso-8859-1").text == "café"
    assert response(b"caf\xe9", "text/plain").text == "caf\ufffd"
    assert response(b"ok", "text/plain; charset=no-such-charset").text == "ok"


def test_is_success_is_2xx_only() -> None:
    statuses = {200: True, 204: True, 299: True, 199: False, 301: False, 404: False, 500: False}
    for status, success in statuses.items():
        assert OutboundResponse("https://p.test/", status, httpx.Headers(), b"").is_success is success


# --- What every request carries ---


async def test_user_agent_and_accept_are_sent_on_every_hop(
    router: respx.Router, client: GuardedClient
) -> None:
    router.get("https://platform.test/config").respond(302, headers={"Location": "https://other.test/config"})
    router.get("https://other.test/config").respond(200, json={})

    await client.get("https://platform.test/config", headers={"User-Agent": "spoofed"})

    assert len(router.calls) == 2
    for call in router.calls:
        assert call.request.headers["user-agent"] == USER_AGENT
        assert call.request.headers["accept"] == "application/json"


async def test_a_callers_accept_header_is_kept(router: respx.Router, client: GuardedClient) -> None:
    route = router.post("https://platform.test/token").respond(200, json={})

    await client.post_form("https://platform.test/token", {"grant_type": "x"}, headers={"Accept": "*/*"})

    sent = route.calls.last.request
    assert sent.headers["accept"] == "*/*"
    assert sent.content == b"grant_type=x"


async def test_cookies_are_never_carried_between_calls(router: respx.Router, client: GuardedClient) -> None:
    route = router.get("https://platform.test/config").respond(
        200, json={}, headers={"Set-Cookie": "session=tenant-a; Path=/"}
    )

    await client.get("https://platform.test/config")
    await client.get("https://platform.test/config")

    assert "cookie" not in route.calls.last.request.headers


def test_a_user_agent_is_required() -> None:
    with pytest.raises(ValueError, match="user_agent"):
        GuardedClient(user_agent=" ")


# --- Real loopback servers: the guarded network layer itself ---


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
        return JSONResponse(
            {"user_agent": request.headers.get("user-agent"), "client_port": request.client.port}
        )

    async def slow(request: Request) -> Response:
        hits.append(request.url.path)
        await asyncio.sleep(1.0)
        return JSONResponse({})

    async def moved(request: Request) -> Response:
        hits.append(request.url.path)
        return RedirectResponse("/config", status_code=302)

    return Starlette(routes=[Route("/config", config), Route("/slow", slow), Route("/moved", moved)])


@contextlib.contextmanager
def serving(
    hits: list[str], cert_file: str | None = None, key_file: str | None = None
) -> Iterator[LiveServer]:
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


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    with serving([]) as server:
        yield server


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_insecure_mode_reaches_a_loopback_http_server(live_server: LiveServer) -> None:
    async with GuardedClient(user_agent=USER_AGENT, allow_insecure=True) as client:
        response = await client.get(live_server.url("/moved"))

    assert response.status_code == 200
    assert response.url == live_server.url("/config")
    assert response.json()["user_agent"] == USER_AGENT


async def test_connections_are_kept_alive_between_calls(live_server: LiveServer) -> None:
    async with GuardedClient(user_agent=USER_AGENT, allow_insecure=True) as client:
        first = await client.get(live_server.url("/config"))
        second = await client.get(live_server.url("/config"))

    assert first.json()["client_port"] == second.json()["client_port"]


async def test_secure_mode_refuses_the_same_loopback_server(live_server: LiveServer) -> None:
    before = len(live_server.hits)

    async with GuardedClient(user_agent=USER_AGENT) as client:
        for scheme in ("http", "https"):
            with pytest.raises(UnsafeURLError):
                await client.get(live_server.url("/config", scheme=scheme))

    assert len(live_server.hits) == before


async def test_dns_rebinding_is_caught_at_connect_time(live_server: LiveServer) -> None:
    before = len(live_server.hits)

    async with GuardedClient(user_agent=USER_AGENT, resolver=RebindingDNS()) as client:
        with pytest.raises(UnsafeURLError) as caught:
            await client.get(live_server.url("/config", scheme="https", host="rebind.test"))

    assert "127.0.0.1" in caught.value.reason
    assert len(live_server.hits) == before


async def test_the_connect_time_guard_refuses_loopback_on_its_own(live_server: LiveServer) -> None:
    guarded = _GuardedNetworkBackend(allow_private=False, resolver=FakeDNS())
    relaxed = _GuardedNetworkBackend(allow_private=True, resolver=FakeDNS())

    with pytest.raises(_BlockedAddressError):
        await guarded.connect_tcp("127.0.0.1", live_server.port, timeout=1)
    stream = await relaxed.connect_tcp("127.0.0.1", live_server.port, timeout=1)
    await stream.aclose()


async def test_the_connect_time_guard_keeps_cloud_metadata_out_even_in_insecure_mode() -> None:
    relaxed = _GuardedNetworkBackend(allow_private=True, resolver=FakeDNS({"meta.test": ["169.254.169.254"]}))

    with pytest.raises(_BlockedAddressError):
        await relaxed.connect_tcp("meta.test", 80, timeout=1)


async def test_a_dead_address_falls_through_to_the_next_one(live_server: LiveServer) -> None:
    # Nothing listens on 127.0.0.2 at this port: the first address refuses, the second one answers.
    dns = FakeDNS({"dual.test": ["127.0.0.2", "127.0.0.1"]})

    async with GuardedClient(user_agent=USER_AGENT, allow_insecure=True, resolver=dns) as client:
        response = await client.get(live_server.url("/config", host="dual.test"))

    assert response.status_code == 200


async def test_a_slow_server_is_a_timeout(live_server: LiveServer) -> None:
    async with GuardedClient(user_agent=USER_AGENT, allow_insecure=True, read_timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(OutboundTimeoutError):
            await client.get(live_server.url("/slow"))

    assert time.monotonic() - started < 0.9


async def test_a_refused_connection_is_a_connection_error() -> None:
    async with GuardedClient(user_agent=USER_AGENT, allow_insecure=True) as client:
        with pytest.raises(OutboundConnectionError):
            await client.get(f"http://127.0.0.1:{closed_port()}/config")


# --- TLS through the guarded network layer: connect to a checked IP, verify the hostname ---


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


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA and a certificate for platform.test only (not for 127.0.0.1)."""
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
    folder: Path = tmp_path_factory.mktemp("pki")
    (folder / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Pki(ca.public_bytes(serialization.Encoding.PEM), str(folder / "cert.pem"), str(folder / "key.pem"))


@pytest.fixture(scope="module")
def tls_server(pki: Pki) -> Iterator[LiveServer]:
    with serving([], cert_file=pki.cert_file, key_file=pki.key_file) as server:
        yield server


def tls_client(pki: Pki) -> GuardedClient:
    dns = FakeDNS({"platform.test": ["127.0.0.1"]})
    trusting = ssl.create_default_context(cadata=pki.ca_pem.decode())
    transport = _GuardedTransport(allow_private=True, resolver=dns, ssl_context=trusting)
    return GuardedClient(user_agent=USER_AGENT, allow_insecure=True, resolver=dns, transport=transport)


async def test_tls_verifies_the_hostname_while_connecting_to_the_checked_address(
    tls_server: LiveServer, pki: Pki
) -> None:
    async with tls_client(pki) as client:
        response = await client.get(tls_server.url("/config", scheme="https", host="platform.test"))

    assert response.json()["user_agent"] == USER_AGENT


async def test_tls_refuses_a_certificate_for_another_name(tls_server: LiveServer, pki: Pki) -> None:
    async with tls_client(pki) as client:
        with pytest.raises(OutboundConnectionError) as caught:
            await client.get(tls_server.url("/config", scheme="https", host="127.0.0.1"))

    assert "TLS" in caught.value.reason
