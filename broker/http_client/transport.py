"""The guarded network layer: one aiohttp pool per purpose, whose connects go only to addresses the policy allows.

aiohttp parses HTTP/1.1 in C and keeps idle connections without scanning them all at each request; through
httpx, httpcore and h11 a registration's two calls cost nearly twice the CPU. Each new connection asks a
resolver that answers only checked addresses, and its socket is made by a factory that refuses any other (also
for a literal address, which aiohttp does not resolve), so a name rebound between the client's check and the
connect cannot lead inside. No proxy is taken from the environment, no cookie is kept, nothing is decompressed
by aiohttp (`bodies` decodes under the size cap), and each destination (scheme, host, port) of a purpose has at
most its share of the purpose's requests under way; the rest wait for a place no longer than the pool timeout.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import aiohttp
import httpx
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from broker.expiring import ExpiringCache
from broker.http_client.addresses import (
    BlockedAddressError,
    IPAddress,
    Resolver,
    check_address,
    port_of,
    resolve_checked,
)
from broker.http_client.bodies import declared_length, read_capped
from broker.http_client.errors import (
    OutboundConnectionError,
    OutboundError,
    OutboundTimeoutError,
    UnsafeURLError,
)
from broker.http_client.limits import POOL_LIMITS, KeyedLimiter, PoolLimits, Purpose
from broker.http_client.responses import OutboundResponse, answer_headers

# Long enough that a burst of calls to one host (a registration's two, a webhook drain's thousands) resolves it
# once, short enough that a moved host is found soon; each answer is checked again whenever it is used.
DNS_TTL = 10.0
DNS_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Bounds:
    """How long one request may take at each step, and how large its decoded answer may be."""

    connect_timeout: float
    """Seconds to wait for a place among the destination's requests, and again to connect."""
    read_timeout: float
    """Seconds to wait for each piece of the answer."""
    max_response_bytes: int

    @functools.cached_property
    def timeouts(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(connect=self.connect_timeout, sock_read=self.read_timeout)


class GuardedTransport:
    """Sends one request (no redirect followed) and reads its answer whole, within the given bounds.

    `allow_private` allows loopback and private addresses (never link-local, multicast or unspecified ones);
    `resolver` answers for new connections, each answer checked; `ssl_context` replaces the default trust
    (tests); `limits` gives each purpose its pool. A purpose's pool is made on its first request, inside the
    event loop it belongs to.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver,
        ssl_context: ssl.SSLContext | None = None,
        limits: Mapping[Purpose, PoolLimits] = POOL_LIMITS,
    ) -> None:
        self._allow_private = allow_private
        self._resolver = resolver
        # One trust store for every pool, loaded here, not at a pool's first request (certifi's CAs take a while).
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self._limits = MappingProxyType(dict(limits))
        self._pools: dict[Purpose, _PurposePool] = {}

    async def send(
        self,
        method: str,
        url: httpx.URL,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        *,
        purpose: Purpose,
        bounds: Bounds,
    ) -> OutboundResponse:
        """The answer, whatever its status; raises OutboundError when there is none to give.

        `headers` name User-Agent, Accept and Accept-Encoding, the sender's own: aiohttp adds its defaults for
        those missing (and would ask for codings `bodies` does not decode).
        """
        pool = self._pools.get(purpose) or self._open(purpose)
        address = str(url)
        try:
            destination = await pool.enter(url, bounds.connect_timeout)
            try:
                async with pool.session.request(
                    method,
                    # As parsed and checked: aiohttp must not encode it again into another URL.
                    yarl.URL(address, encoded=True),
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=bounds.timeouts,
                ) as answer:
                    content = await _read(answer, address, bounds.max_response_bytes)
                    read = answer_headers(answer.headers, answer.raw_headers)
                    return OutboundResponse(address, answer.status, read, content)
            finally:
                pool.leave(destination)
        except _TRANSLATED as exc:
            raise _translated(exc, address) from exc

    async def aclose(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            await pool.session.close()

    def _open(self, purpose: Purpose) -> _PurposePool:
        limits = self._limits[purpose]
        connector = aiohttp.TCPConnector(
            limit=limits.connections,
            # The destination's share is kept by the pool's own limiter, which says why a request waited.
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry,
            # No cache of aiohttp's: each new connection asks the checking resolver (whose answers are ours).
            use_dns_cache=False,
            resolver=self._connect_resolver(),
            socket_factory=functools.partial(checked_socket, allow_private=self._allow_private),
            ssl=self._ssl_context,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # one platform's or tenant's cookies never go to another
            auto_decompress=False,  # decoded by read_capped, under the size cap
            trust_env=False,  # no proxy from the environment
        )
        pool = self._pools[purpose] = _PurposePool(session, limits)
        return pool

    def _connect_resolver(self) -> AbstractResolver:
        """What each new connection asks where to connect: only checked addresses."""
        return CheckedResolver(self._resolver, allow_private=self._allow_private)


class _PurposePool:
    def __init__(self, session: aiohttp.ClientSession, limits: PoolLimits) -> None:
        self.session = session
        # A share as wide as the pool is no share: nothing to wait for but the pool itself.
        shared = limits.per_destination < limits.connections
        self._destinations = KeyedLimiter(limits.per_destination) if shared else None

    async def enter(self, url: httpx.URL, timeout: float) -> _Destination | None:  # noqa: ASYNC109
        """Take a place among the requests under way to the URL's destination (None: no share to take a place
        in); `leave` gives it back once the answer is read."""
        if self._destinations is None:
            return None
        destination = (url.scheme, url.host, port_of(url))
        try:
            await self._destinations.acquire(destination, timeout=timeout)
        except TimeoutError as exc:
            raise _PoolTimeoutError from exc
        return destination

    def leave(self, destination: _Destination | None) -> None:
        if destination is not None and self._destinations is not None:
            self._destinations.release(destination)


_Destination = tuple[str, str, int]


class CachedResolver:
    """A Resolver that keeps each answer `ttl` seconds (none when 0); a failure is not kept. Whoever uses an
    answer checks it at each use."""

    def __init__(self, resolver: Resolver, ttl: float, max_entries: int = DNS_CACHE_SIZE) -> None:
        self._resolver = resolver
        self._answers: ExpiringCache[tuple[str, int], list[str]] | None = (
            ExpiringCache(ttl, max_entries) if ttl > 0 else None
        )

    async def __call__(self, host: str, port: int) -> list[str]:
        if self._answers is None:
            return list(await self._resolver(host, port))
        found = self._answers.get((host, port))
        if found is None:
            found = list(await self._resolver(host, port))
            self._answers.put((host, port), found)
        return found


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver: the host's addresses, each checked; raises BlockedAddressError otherwise."""

    def __init__(self, resolver: Resolver, *, allow_private: bool) -> None:
        self._resolver = resolver
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await resolve_checked(host, port, self._resolver, allow_private=self._allow_private)
        found = [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=_family(address),
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
            if family in (socket.AF_UNSPEC, _family(address))
        ]
        if not found:
            raise OSError(f"no address of the asked family for {host}")
        return found

    async def close(self) -> None:
        pass


class _RefusedAddressError(OSError):
    """A socket was about to connect to an address the policy refuses (an OSError, as aiohttp expects there)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class _PoolTimeoutError(Exception):
    """No place for the request among those under way to its destination within the pool timeout."""


def checked_socket(addr_info: tuple[int, int, int, str, tuple[object, ...]], *, allow_private: bool) -> socket.socket:
    """The socket for one connect, made only once the address it goes to is checked: the last word on where a
    request goes, whatever resolved it."""
    family, kind, proto, _, sockaddr = addr_info
    try:
        address = ipaddress.ip_address(str(sockaddr[0]))
        if len(sockaddr) == 4 and sockaddr[3]:
            raise BlockedAddressError(f"the address {address} is scoped to a network interface (a zone id)")
        check_address(address, allow_private=allow_private)
    except (BlockedAddressError, ValueError) as exc:
        raise _RefusedAddressError(getattr(exc, "reason", f"{sockaddr[0]!r} is not an IP address")) from exc
    return socket.socket(family, kind, proto)


def _family(address: IPAddress) -> socket.AddressFamily:
    return socket.AF_INET6 if isinstance(address, ipaddress.IPv6Address) else socket.AF_INET


async def _read(answer: aiohttp.ClientResponse, url: str, limit: int) -> bytes:
    headers = answer.headers
    content_encodings = headers.getall("Content-Encoding", [])
    content_length = headers.get("Content-Length", "")
    declared = declared_length(content_length)
    if not content_encodings and "Transfer-Encoding" not in headers and declared is not None and declared <= limit:
        # Sent as is, and the parser reads no more than its Content-Length: nothing to decode or count.
        return await answer.read()
    return await read_capped(
        answer.content.iter_any(),
        content_encodings=content_encodings,
        content_length=content_length,
        url=url,
        limit=limit,
    )


# What `_translated` turns into the guarded client's errors; anything else is no failure of the request's own.
_TRANSLATED = (_PoolTimeoutError, BlockedAddressError, aiohttp.ClientError, OSError)


def _translated(exc: BaseException, url: str) -> OutboundError:
    """aiohttp's errors as the guarded client's; aiohttp's timeouts are TimeoutErrors, which the caller would
    take for its own total timeout, so they are translated here, inside it."""
    if isinstance(exc, _PoolTimeoutError):
        return OutboundTimeoutError(url, "timed out waiting for a free connection: too many requests are under way")
    if isinstance(exc, BlockedAddressError):
        return UnsafeURLError(url, exc.reason)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return OutboundTimeoutError(url, "timed out connecting to the server")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return OutboundTimeoutError(url, "timed out waiting for the server")
    if isinstance(exc, aiohttp.InvalidURL):
        return UnsafeURLError(url, "the URL is not valid")
    if isinstance(exc, aiohttp.ClientConnectorError):
        refused = exc.os_error
        if isinstance(refused, _RefusedAddressError):
            return UnsafeURLError(url, refused.reason)
        return OutboundConnectionError(url, _connect_reason(exc))
    return OutboundConnectionError(url, "the server sent no valid HTTP response")


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    # aiohttp's TLS errors are ssl's types too: the reason is in the one they wrap.
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed: {cause.reason or cause}"
        cause = cause.__cause__ or cause.__context__
    # The OS's words for its error number (refused, unreachable): no request data in them.
    error = exc.os_error
    reason = os.strerror(error.errno) if error.errno else str(error)
    return f"could not connect: {reason}" if reason else "could not connect"
