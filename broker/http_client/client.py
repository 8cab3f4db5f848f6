"""The guarded client: sends a request, follows redirects itself, and bounds the time and size of the answer.

Every request the broker makes to a platform or a tenant goes through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Self

import httpx

from broker import metrics
from broker.http_client.addresses import (
    BlockedAddressError,
    Resolver,
    check_url_allowed,
    parse_url,
    port_of,
    system_resolver,
)
from broker.http_client.bodies import ACCEPT_ENCODING, read_body
from broker.http_client.errors import (
    OutboundConnectionError,
    OutboundTimeoutError,
    TooManyRedirectsError,
    UnsafeURLError,
)
from broker.http_client.limits import Purpose
from broker.http_client.responses import OutboundResponse
from broker.http_client.transport import GuardedTransport

# Credentials a caller set for one origin; never replayed to another one on redirect.
_ORIGIN_BOUND_HEADERS = ("authorization", "cookie")
_BODY_HEADERS = ("content-type", "content-length", "transfer-encoding")


class GuardedClient:
    """Sends outbound requests, refusing anything unsafe; each call names its purpose, which picks its pool.

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
        self._resolver = resolver or system_resolver
        # The transport directly, not an httpx.AsyncClient: redirects are followed here and cookies never kept
        # (a shared jar would carry one platform's or tenant's cookies into later calls), and httpx's own
        # redirect bookkeeping would parse a hostile Location header before the checks below see it.
        self._transport = transport or GuardedTransport(allow_private=allow_insecure, resolver=self._resolver)
        self._timeouts = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        ).as_dict()

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
        await self._transport.aclose()

    async def get(self, url: str, *, purpose: Purpose, headers: Mapping[str, str] | None = None) -> OutboundResponse:
        return await self.request("GET", url, purpose=purpose, headers=headers)

    async def post_json(
        self, url: str, body: Any, *, purpose: Purpose, headers: Mapping[str, str] | None = None
    ) -> OutboundResponse:
        return await self.request("POST", url, purpose=purpose, headers=headers, json=body)

    async def post_form(
        self, url: str, data: Mapping[str, str], *, purpose: Purpose, headers: Mapping[str, str] | None = None
    ) -> OutboundResponse:
        return await self.request("POST", url, purpose=purpose, headers=headers, data=data)

    async def request(
        self,
        method: str,
        url: str,
        *,
        purpose: Purpose,
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
        hop = _Hop(method, parse_url(url), self._request_headers(headers), json, data, content)
        follow = method == "GET" if follow_redirects is None else follow_redirects
        started = time.monotonic()
        status: int | None = None
        try:
            async with asyncio.timeout(self._total_timeout):
                response = await self._send_following(hop, follow, purpose)
                status = response.status_code
                return response
        except TimeoutError as exc:
            raise OutboundTimeoutError(url, f"no complete answer within {self._total_timeout:g} s") from exc
        finally:
            metrics.OUTBOUND.labels(purpose.value, metrics.status_class(status)).inc()
            metrics.OUTBOUND_SECONDS.labels(purpose.value).observe(time.monotonic() - started)

    def _request_headers(self, headers: Mapping[str, str] | None) -> httpx.Headers:
        merged = httpx.Headers(headers)
        merged["User-Agent"] = self._user_agent
        merged.setdefault("Accept", "application/json")
        merged["Accept-Encoding"] = ACCEPT_ENCODING
        return merged

    async def _send_following(self, hop: _Hop, follow: bool, purpose: Purpose) -> OutboundResponse:
        for _ in range(self._max_redirects + 1):
            response = await self._send(hop, purpose)
            if not (follow and response.is_redirect):
                return response
            hop = _redirected(hop, response)
        raise TooManyRedirectsError(str(hop.url), f"more than {self._max_redirects} redirects")

    async def _send(self, hop: _Hop, purpose: Purpose) -> OutboundResponse:
        await self._check_url(hop.url)
        request = httpx.Request(
            hop.method,
            hop.url,
            headers=hop.headers,
            json=hop.json,
            data=hop.data,
            content=hop.content,
            extensions={"purpose": purpose, "timeout": self._timeouts},
        )
        with _translate_errors(str(hop.url)):
            response = await self._transport.handle_async_request(request)
            response.request = request
            try:
                content = await read_body(response, limit=self._max_response_bytes)
            finally:
                await response.aclose()
        return OutboundResponse(str(response.url), response.status_code, response.headers, content)

    async def _check_url(self, url: httpx.URL) -> None:
        await check_url_allowed(url, allow_insecure=self._allow_insecure, resolver=self._resolver)


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
        url = parse_url(str(hop.url.join(response.headers["location"])))
    except (httpx.InvalidURL, UnsafeURLError) as exc:
        raise UnsafeURLError(str(hop.url), "the redirect location is not a valid URL") from exc
    if url.scheme not in ("http", "https"):
        # Checked here too, before anything reads the new URL's origin (a file: URL has no port).
        raise UnsafeURLError(str(hop.url), f"the server redirected to a {url.scheme}: URL, which is refused")
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


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, port_of(url))


@contextlib.contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    try:
        yield
    except BlockedAddressError as exc:
        raise UnsafeURLError(url, exc.reason) from exc
    except httpx.TimeoutException as exc:
        raise OutboundTimeoutError(url, _timeout_reason(exc)) from exc
    except httpx.ConnectError as exc:
        raise OutboundConnectionError(url, _connect_reason(exc)) from exc
    except httpx.RequestError as exc:
        raise OutboundConnectionError(url, "the server sent no valid HTTP response") from exc


def _timeout_reason(exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.PoolTimeout):
        return "timed out waiting for a free connection: too many requests are under way"
    if isinstance(exc, httpx.ConnectTimeout):
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
