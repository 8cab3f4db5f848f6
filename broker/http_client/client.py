"""The guarded client: sends a request, follows redirects itself, and bounds the time and size of the answer.

Every request the broker makes to a platform or a tenant goes through it.
"""

from __future__ import annotations

import asyncio
import json as json_module
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import urlencode

import httpx

from broker import metrics
from broker.http_client.addresses import check_url_allowed, parse_url, port_of
from broker.http_client.bodies import ACCEPT_ENCODING
from broker.http_client.errors import OutboundTimeoutError, TooManyRedirectsError, UnsafeURLError
from broker.http_client.limits import POOL_LIMITS, PoolLimits, Purpose
from broker.http_client.options import OutboundOptions
from broker.http_client.responses import OutboundResponse
from broker.http_client.transport import GuardedTransport

# Credentials a caller set for one origin; never replayed to another one on redirect.
_ORIGIN_BOUND_HEADERS = ("authorization", "cookie")
_BODY_HEADERS = ("content-type", "content-length", "transfer-encoding")

_Headers = dict[str, tuple[str, str]]
"""A request's headers by lower-cased name, each as the caller spelt it: no header object built per hop."""


class GuardedClient:
    """Sends outbound requests under `options`, refusing anything unsafe; each call names its purpose, which
    picks its pool.

    `limits` replaces the pools (tests). `transport` replaces the guarded network layer, with its own
    connect-time policy and resolver (tests: a platform on a public name served from loopback); the client's URL
    and address checks still run first.
    """

    def __init__(
        self,
        options: OutboundOptions,
        *,
        max_redirects: int = 3,
        transport: GuardedTransport | None = None,
        limits: Mapping[Purpose, PoolLimits] = POOL_LIMITS,
    ) -> None:
        self._allow_insecure = options.allow_insecure
        self._total_timeout = options.total_timeout
        self._max_redirects = max_redirects
        self._resolver = options.cached_resolver()
        # Redirects are followed here, each hop checked before it is sent, never by the network layer.
        self._transport = transport or options.transport(self._resolver, limits)
        self._bounds = options.bounds
        self._own_headers: _Headers = {
            "user-agent": ("User-Agent", options.user_agent),
            "accept-encoding": ("Accept-Encoding", ACCEPT_ENCODING),
        }

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
        if (json is not None) + (data is not None) + (content is not None) > 1:
            raise ValueError("send one of json, data or content")
        method = method.upper()
        sent_headers = self._request_headers(headers)
        hop = _Hop(method, parse_url(url), sent_headers, _body(sent_headers, json, data, content))
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
            metrics.outbound_call(purpose.value, status, time.monotonic() - started)

    def _request_headers(self, headers: Mapping[str, str] | None) -> _Headers:
        """The caller's headers, then Accept unless the caller set one; User-Agent and Accept-Encoding always
        the client's own."""
        merged: _Headers = {}
        if headers:
            merged = {name.lower(): (name, value) for name, value in headers.items()}
        merged.setdefault("accept", _ACCEPT)
        merged.update(self._own_headers)
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
        return await self._transport.send(
            hop.method, hop.url, list(hop.headers.values()), hop.body, purpose=purpose, bounds=self._bounds
        )

    async def _check_url(self, url: httpx.URL) -> None:
        await check_url_allowed(url, allow_insecure=self._allow_insecure, resolver=self._resolver)


class _Hop(NamedTuple):
    """One request of a redirect chain."""

    method: str
    url: httpx.URL
    headers: _Headers
    body: bytes | None


# One encoder for every body: json.dumps with any option set builds a new one at each call.
_JSON_ENCODER = json_module.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_ACCEPT = ("Accept", "application/json")
_JSON = ("Content-Type", "application/json")
_FORM = ("Content-Type", "application/x-www-form-urlencoded")


def _body(headers: _Headers, json: Any, data: Mapping[str, str] | None, content: bytes | None) -> bytes | None:
    """The body as sent, its Content-Type set unless the caller set one (as httpx does)."""
    if json is not None:
        headers.setdefault("content-type", _JSON)
        return _JSON_ENCODER.encode(json).encode()
    if data is not None:
        headers.setdefault("content-type", _FORM)
        return urlencode(data, doseq=True).encode()
    return content


def _redirected(hop: _Hop, response: OutboundResponse) -> _Hop:
    try:
        url = parse_url(str(hop.url.join(response.headers["location"])))
    except (httpx.InvalidURL, UnsafeURLError) as exc:
        raise UnsafeURLError(str(hop.url), "the redirect location is not a valid URL") from exc
    if url.scheme not in ("http", "https"):
        # Checked here too, before anything reads the new URL's origin (a file: URL has no port).
        raise UnsafeURLError(str(hop.url), f"the server redirected to a {url.scheme}: URL, which is refused")
    headers = dict(hop.headers)
    if _origin(url) != _origin(hop.url):
        for name in _ORIGIN_BOUND_HEADERS:
            headers.pop(name, None)
    method = _redirect_method(hop.method, response.status_code)
    if method == hop.method:
        return hop._replace(url=url, headers=headers)
    for name in _BODY_HEADERS:
        headers.pop(name, None)
    return _Hop(method, url, headers, None)


def _redirect_method(method: str, status_code: int) -> str:
    # What browsers do, and what httpx does: 303 always, and 302 and a POST's 301, become GET.
    if method == "HEAD":
        return method
    if status_code in (302, 303) or (status_code == 301 and method == "POST"):
        return "GET"
    return method


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, port_of(url))
