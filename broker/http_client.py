"""The one guarded outbound HTTP client: every request the broker makes to a platform or a tenant goes here.

It refuses non-https URLs and hosts that resolve to internal addresses (before the request and again at
connect time, against DNS rebinding), follows redirects itself, and bounds time and response size.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ipaddress
import json
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from email.message import Message
from http.cookiejar import Cookie, CookieJar, CookiePolicy
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit
from urllib.request import Request as UrllibRequest

import httpcore
import httpx

__all__ = [
    "GuardedClient",
    "InvalidJSONError",
    "OutboundConnectionError",
    "OutboundError",
    "OutboundResponse",
    "OutboundTimeoutError",
    "Resolver",
    "ResponseTooLargeError",
    "TooManyRedirectsError",
    "UnsafeURLError",
    "check_url_is_public",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str, int], Awaitable[Iterable[str]]]
"""Resolves (host, port) to IP address strings; raises OSError when the name does not resolve."""

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
# Credentials a caller set for one origin; never replayed to another one on redirect.
_ORIGIN_BOUND_HEADERS = ("authorization", "cookie")
_BODY_HEADERS = ("content-type", "content-length", "transfer-encoding")
_MAX_CONNECTIONS = 100
_MAX_KEEPALIVE_CONNECTIONS = 20
_KEEPALIVE_EXPIRY = 5.0


class OutboundError(Exception):
    """An outbound request failed; `reason` is safe to show to a person and to log."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = _redact(url)
        self.reason = reason
        super().__init__(f"{reason} ({self.url})")


class UnsafeURLError(OutboundError):
    """The URL is malformed, uses a refused scheme, or its host is an internal address."""


class TooManyRedirectsError(OutboundError):
    """The server redirected more times than allowed."""


class OutboundTimeoutError(OutboundError):
    """Connecting, reading, or the whole call took too long."""


class ResponseTooLargeError(OutboundError):
    """The response body is larger than the client accepts."""


class OutboundConnectionError(OutboundError):
    """No usable HTTP exchange: DNS failure, refused connection, TLS failure, broken response."""


class InvalidJSONError(OutboundError):
    """The response is not a JSON document."""


@dataclass(frozen=True)
class OutboundResponse:
    """A complete, size-capped response."""

    url: str
    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(_codec(_content_type(self.headers)[1]), errors="replace")

    def json(self) -> Any:
        media_type = _content_type(self.headers)[0]
        if media_type is not None and not _is_json_media_type(media_type):
            raise InvalidJSONError(self.url, f"expected a JSON response, got {media_type}")
        try:
            return json.loads(self.content)
        except ValueError as exc:
            raise InvalidJSONError(self.url, f"the response is not valid JSON: {exc}") from exc

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        return self.status_code in _REDIRECT_STATUSES and "location" in self.headers


class GuardedClient:
    """Sends outbound requests through one pooled connection pool, refusing anything unsafe.

    `allow_insecure` (BROKER_ALLOW_INSECURE_PLATFORMS) also allows http:// and loopback/private addresses.
    `transport` replaces the guarded network layer (tests); URL and address checks still run first.
    `resolver` replaces system DNS (tests); the default uses the event loop's getaddrinfo.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        allow_insecure: bool = False,
        total_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        max_response_bytes: int = 1_048_576,
        max_redirects: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        if not user_agent.strip():
            raise ValueError("user_agent is required: some platforms refuse requests without one")
        self._user_agent = user_agent
        self._allow_insecure = allow_insecure
        self._total_timeout = total_timeout
        self._max_response_bytes = max_response_bytes
        self._max_redirects = max_redirects
        self._resolver = resolver or _system_resolver
        self._client = httpx.AsyncClient(
            transport=transport or _GuardedTransport(allow_private=allow_insecure, resolver=self._resolver),
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
            ),
            follow_redirects=False,
            trust_env=False,
            # A shared cookie jar would carry one platform's (or tenant's) cookies into later calls.
            cookies=CookieJar(policy=_NoCookies()),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> OutboundResponse:
        return await self.request("GET", url, headers=headers)

    async def post_json(
        self, url: str, body: Any, *, headers: Mapping[str, str] | None = None
    ) -> OutboundResponse:
        return await self.request("POST", url, headers=headers, json=body)

    async def post_form(
        self, url: str, data: Mapping[str, str], *, headers: Mapping[str, str] | None = None
    ) -> OutboundResponse:
        return await self.request("POST", url, headers=headers, data=data)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
        follow_redirects: bool | None = None,
    ) -> OutboundResponse:
        """Send one request, following redirects (by default only for GET) within the total timeout.

        `content` sends exact bytes, for bodies that are signed as sent (webhooks).
        """
        if sum(body is not None for body in (json, data, content)) > 1:
            raise ValueError("send one of json, data or content")
        method = method.upper()
        hop = _Hop(method, _parse_url(url), self._request_headers(headers), json, data, content)
        follow = method == "GET" if follow_redirects is None else follow_redirects
        try:
            async with asyncio.timeout(self._total_timeout):
                return await self._send_following(hop, follow)
        except TimeoutError as exc:
            raise OutboundTimeoutError(url, f"no complete answer within {self._total_timeout:g} s") from exc

    def _request_headers(self, headers: Mapping[str, str] | None) -> httpx.Headers:
        merged = httpx.Headers(headers)
        merged["User-Agent"] = self._user_agent
        merged.setdefault("Accept", "application/json")
        return merged

    async def _send_following(self, hop: _Hop, follow: bool) -> OutboundResponse:
        for _ in range(self._max_redirects + 1):
            response = await self._send(hop)
            if not (follow and response.is_redirect):
                return response
            hop = _redirected(hop, response)
        raise TooManyRedirectsError(str(hop.url), f"more than {self._max_redirects} redirects")

    async def _send(self, hop: _Hop) -> OutboundResponse:
        await self._check_url(hop.url)
        request = self._client.build_request(
            hop.method, hop.url, headers=hop.headers, json=hop.json, data=hop.data, content=hop.content
        )
        with _translate_errors(str(hop.url)):
            response = await self._client.send(request, stream=True)
            try:
                content = await self._read_capped(response)
            finally:
                await response.aclose()
        return OutboundResponse(str(response.url), response.status_code, response.headers, content)

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_response_bytes:
            raise self._too_large(response)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self._max_response_bytes:
                raise self._too_large(response)
        return bytes(body)

    def _too_large(self, response: httpx.Response) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            str(response.url), f"the response is larger than {self._max_response_bytes} bytes"
        )

    async def _check_url(self, url: httpx.URL) -> None:
        await _check_url_allowed(url, allow_insecure=self._allow_insecure, resolver=self._resolver)


async def check_url_is_public(url: str, *, allow_insecure: bool, resolver: Resolver | None = None) -> None:
    """Raises UnsafeURLError (or OutboundConnectionError when the host does not resolve) unless the guarded
    client would send to `url` now; for checking a URL when it is configured, long before it is used."""
    await _check_url_allowed(_parse_url(url), allow_insecure=allow_insecure, resolver=resolver or _system_resolver)


async def _check_url_allowed(url: httpx.URL, *, allow_insecure: bool, resolver: Resolver) -> None:
    allowed_schemes = ("https", "http") if allow_insecure else ("https",)
    if url.scheme not in allowed_schemes:
        raise UnsafeURLError(str(url), f"the URL must use {' or '.join(allowed_schemes)}")
    if not url.host:
        raise UnsafeURLError(str(url), "the URL has no host")
    if url.userinfo:
        raise UnsafeURLError(str(url), "credentials in the URL are not accepted")
    try:
        # The ASCII (IDNA) form is what DNS and the connection pool see.
        host = url.raw_host.decode("ascii")
        await _resolve_checked(host, _port(url), resolver, allow_private=allow_insecure)
    except _BlockedAddressError as exc:
        raise UnsafeURLError(str(url), exc.reason) from exc
    except OSError as exc:
        raise OutboundConnectionError(str(url), f"the host {url.host} could not be resolved") from exc


@dataclass(frozen=True)
class _Hop:
    """One request of a redirect chain."""

    method: str
    url: httpx.URL
    headers: httpx.Headers
    json: Any
    data: Mapping[str, str] | None
    content: bytes | None = None


def _redirected(hop: _Hop, response: OutboundResponse) -> _Hop:
    try:
        url = hop.url.join(response.headers["location"])
    except httpx.InvalidURL as exc:
        raise UnsafeURLError(str(hop.url), "the redirect location is not a valid URL") from exc
    headers = httpx.Headers(hop.headers)
    if _origin(url) != _origin(hop.url):
        for name in _ORIGIN_BOUND_HEADERS:
            headers.pop(name, None)
    method = _redirect_method(hop.method, response.status_code)
    if method == hop.method:
        return replace(hop, url=url, headers=headers)
    for name in _BODY_HEADERS:
        headers.pop(name, None)
    return _Hop(method, url, headers, None, None)


def _redirect_method(method: str, status_code: int) -> str:
    # What browsers do, and what httpx does: 303 always, and 302 and a POST's 301, become GET.
    if method == "HEAD":
        return method
    if status_code in (302, 303) or (status_code == 301 and method == "POST"):
        return "GET"
    return method


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeURLError(url, "the URL is not valid") from exc
    if not parsed.is_absolute_url:
        raise UnsafeURLError(url, "the URL must be absolute")
    return parsed


def _port(url: httpx.URL) -> int:
    return url.port or _DEFAULT_PORTS[url.scheme]


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, _port(url))


def _redact(url: str) -> str:
    """The URL without credentials, query or fragment: a registration token may ride in a query string."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@contextlib.contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    try:
        yield
    except _BlockedAddressError as exc:
        raise UnsafeURLError(url, exc.reason) from exc
    except httpx.TimeoutException as exc:
        raise OutboundTimeoutError(url, _timeout_reason(exc)) from exc
    except httpx.ConnectError as exc:
        raise OutboundConnectionError(url, _connect_reason(exc)) from exc
    except httpx.RequestError as exc:
        raise OutboundConnectionError(url, "the server sent no valid HTTP response") from exc


def _timeout_reason(exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return "timed out connecting to the server"
    return "timed out waiting for the server"


def _connect_reason(exc: httpx.ConnectError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed: {cause.reason or cause}"
        cause = cause.__cause__ or cause.__context__
    # httpcore's messages come from the OS (refused, unreachable, unresolved): no request data in them.
    return f"could not connect: {exc}" if str(exc) else "could not connect"


def _content_type(headers: httpx.Headers) -> tuple[str | None, str | None]:
    """The media type and charset, or None for a missing Content-Type."""
    value = headers.get("content-type", "").strip()
    if not value:
        return None, None
    message = Message()
    message["content-type"] = value
    return message.get_content_type(), message.get_content_charset()


def _is_json_media_type(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _codec(charset: str | None) -> str:
    if charset:
        with contextlib.suppress(LookupError):
            return codecs.lookup(charset).name
    return "utf-8"


class _NoCookies(CookiePolicy):
    """Neither stores nor sends cookies."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: Cookie, request: UrllibRequest) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: UrllibRequest) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: UrllibRequest) -> bool:
        return False

    def path_return_ok(self, path: str, request: UrllibRequest) -> bool:
        return False


# --- Address checks, shared by the pre-flight check and the connect-time guard ---


class _BlockedAddressError(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def _resolve_checked(
    host: str, port: int, resolver: Resolver, *, allow_private: bool
) -> list[IPAddress]:
    """The host's addresses, each one checked; raises _BlockedAddressError, or OSError if unresolved."""
    literal = _ip_literal(host)
    addresses = [literal] if literal is not None else await _resolve(host, port, resolver)
    for address in addresses:
        problem = _address_problem(address, allow_private=allow_private)
        if problem is None:
            continue
        if literal is not None:
            raise _BlockedAddressError(f"the address {host} is {problem}")
        raise _BlockedAddressError(f"{host} resolves to {address}, which is {problem}")
    return addresses


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    addresses = [ipaddress.ip_address(found) for found in await resolver(host, port)]
    if not addresses:
        raise OSError(f"no address for {host}")
    return list(dict.fromkeys(addresses))


def _address_problem(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why the broker must not connect to this address, or None."""
    # The embedded IPv4 address first: it is where the connection really goes, so it names the problem.
    for candidate in (*_embedded_ipv4(address), address):
        problem = _range_problem(candidate, allow_private=allow_private)
        if problem is not None:
            return problem
    return None


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    # These IPv6 forms reach the embedded IPv4 address, so it must pass the same checks.
    if isinstance(address, ipaddress.IPv4Address):
        return []
    embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in _NAT64_PREFIX:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [candidate for candidate in embedded if candidate is not None]


def _range_problem(address: IPAddress, *, allow_private: bool) -> str | None:
    # Insecure mode is for local platforms (loopback, LAN, containers), never for cloud metadata
    # (169.254.169.254 is link-local) or addresses that are not a single host.
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if allow_private:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address in _SHARED_ADDRESS_SPACE:
        return "a shared (carrier-grade NAT) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


# --- The guarded network layer: httpcore pool whose TCP connects are checked ---


class _GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks the host at connect time, then connects to a checked address.

    httpcore still hands the original hostname to start_tls, so SNI and certificate checks are unchanged.
    """

    def __init__(self, *, allow_private: bool, resolver: Resolver) -> None:
        self._allow_private = allow_private
        self._resolver = resolver
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._checked_addresses(host, port, timeout)
        failure: httpcore.ConnectError | None = None
        # Try each address in turn, as connecting by name would (an unroutable IPv6 must not end the call).
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for outbound requests")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)

    async def _checked_addresses(self, host: str, port: int, seconds: float | None) -> list[IPAddress]:
        try:
            async with asyncio.timeout(seconds):
                return await _resolve_checked(host, port, self._resolver, allow_private=self._allow_private)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"timed out resolving {host}") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}") from exc


class _GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that uses the guarded network backend."""

    def __init__(
        self, *, allow_private: bool, resolver: Resolver, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=_MAX_CONNECTIONS,
            max_keepalive_connections=_MAX_KEEPALIVE_CONNECTIONS,
            keepalive_expiry=_KEEPALIVE_EXPIRY,
            network_backend=_GuardedNetworkBackend(allow_private=allow_private, resolver=resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _map_httpcore_errors():
            core_response = await self._pool.handle_async_request(core_request)
        assert isinstance(core_response.stream, AsyncIterable)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response.stream),
            extensions=core_response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _map_httpcore_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


# Most specific first: the first match wins.
_HTTPCORE_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _map_httpcore_errors() -> Iterator[None]:
    """Raise httpcore's errors as the httpx ones they stand for, as httpx's own transport does."""
    try:
        yield
    except Exception as exc:
        for core_error, httpx_error in _HTTPCORE_ERRORS:
            if isinstance(exc, core_error):
                raise httpx_error(str(exc)) from exc
        raise
