"""The client for webhook posts: many small POSTs to few receivers over kept connections, at little CPU a post.

It is aiohttp (HTTP/1.1 parsed in C, a keep-alive pool that does not scan every connection at each request)
under the guarded client's rules and its address policy (`addresses`). The URL and what its host resolves to
are checked before the post, and again when a connection is made: by a resolver that answers only checked
addresses, and by a socket factory that refuses any other (also for a literal address, which aiohttp does not
resolve), so a name rebound between the check and the connect cannot lead inside. Redirects are never followed
(a 3xx is the receiver's answer), no proxy is taken from the environment, no cookie is kept, each post is
bounded in time, and its answer in size, decoded as it streams (`bodies`). A receiver's DNS answer is kept
DNS_TTL seconds and checked again at each use.

Profiled on a backlog drain, httpcore's pool, anyio's cancel scopes and h11 took about half the delivery
worker's CPU; the guarded client (`client`) stays for the broker's other calls, which are few and follow
redirects.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from typing import Self

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from broker import metrics
from broker.expiring import ExpiringCache
from broker.http_client.addresses import (
    BlockedAddressError,
    IPAddress,
    Resolver,
    check_address,
    check_url_allowed,
    parse_url,
    resolve_checked,
    system_resolver,
)
from broker.http_client.bodies import ACCEPT_ENCODING, read_capped
from broker.http_client.errors import OutboundConnectionError, OutboundTimeoutError, UnsafeURLError
from broker.http_client.limits import POOL_LIMITS, PoolLimits, Purpose
from broker.http_client.responses import OutboundResponse

# Long enough that a drain resolves each receiver a few times a minute, short enough that a moved receiver is
# found soon; each answer is checked again whenever it is used.
DNS_TTL = 10.0
DNS_CACHE_SIZE = 10_000
_PARSED_URLS = 10_000


class WebhookPoster:
    """Posts webhook bodies; the same rules as GuardedClient's (see the module's doc), its own pool.

    `allow_insecure` (BROKER_ALLOW_INSECURE_PLATFORMS) also allows http:// and loopback/private addresses.
    `resolver` replaces system DNS (tests); `dns_ttl` 0 keeps no answer.
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
        resolver: Resolver | None = None,
        dns_ttl: float = DNS_TTL,
        ssl_context: ssl.SSLContext | None = None,
        limits: PoolLimits = POOL_LIMITS[Purpose.WEBHOOKS],
    ) -> None:
        if not user_agent.strip():
            raise ValueError("user_agent is required: some receivers refuse requests without one")
        self._allow_insecure = allow_insecure
        self._total_timeout = total_timeout
        self._max_response_bytes = max_response_bytes
        self._resolver = CachedResolver(resolver or system_resolver, dns_ttl)
        self._ssl_context = ssl_context
        self._limits = limits
        self._timeout = aiohttp.ClientTimeout(connect=connect_timeout, sock_read=read_timeout)
        self._headers = {"User-Agent": user_agent, "Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResponse:
        """POSTs `body` as is (it is signed as sent); the receiver's answer, whatever its status.

        Raises OutboundError (UnsafeURLError, OutboundTimeoutError, OutboundConnectionError,
        ResponseTooLargeError) when there is no answer to record."""
        started = time.monotonic()
        status: int | None = None
        try:
            async with asyncio.timeout(self._total_timeout):
                target = _parsed(url)
                await check_url_allowed(target, allow_insecure=self._allow_insecure, resolver=self._resolver)
                response = await self._send(str(target), body, headers)
                status = response.status_code
                return response
        except TimeoutError as exc:
            raise OutboundTimeoutError(url, f"no complete answer within {self._total_timeout:g} s") from exc
        finally:
            metrics.OUTBOUND.labels(Purpose.WEBHOOKS.value, metrics.status_class(status)).inc()
            metrics.OUTBOUND_SECONDS.labels(Purpose.WEBHOOKS.value).observe(time.monotonic() - started)

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def _send(self, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResponse:
        with _translate_errors(url):
            async with self._open_session().post(
                url, data=body, headers={**self._headers, **headers}, allow_redirects=False
            ) as answer:
                content = await read_capped(
                    answer.content.iter_any(),
                    content_encodings=answer.headers.getall("Content-Encoding", []),
                    content_length=answer.headers.get("Content-Length", ""),
                    url=url,
                    limit=self._max_response_bytes,
                )
                return OutboundResponse(url, answer.status, httpx.Headers(list(answer.raw_headers)), content)

    def _open_session(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop it belongs to.
        if self._session is None:
            limits = self._limits
            connector = aiohttp.TCPConnector(
                limit=limits.connections,
                limit_per_host=limits.per_destination if limits.per_destination < limits.connections else 0,
                keepalive_timeout=limits.keepalive_expiry,
                # No cache of aiohttp's: each new connection asks the checking resolver (whose answers are ours).
                use_dns_cache=False,
                resolver=CheckedResolver(self._resolver, allow_private=self._allow_insecure),
                socket_factory=functools.partial(checked_socket, allow_private=self._allow_insecure),
                ssl=self._ssl_context or httpx.create_ssl_context(),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),  # one receiver's cookies never go to another
                auto_decompress=False,  # decoded by read_capped, under the size cap
                trust_env=False,  # no proxy from the environment
            )
        return self._session


class CachedResolver:
    """A Resolver that keeps each answer `ttl` seconds (none when 0); a failure is not kept."""

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


def checked_socket(addr_info: tuple[int, int, int, str, tuple[object, ...]], *, allow_private: bool) -> socket.socket:
    """The socket for one connect, made only once the address it goes to is checked: the last word on where a
    post goes, whatever resolved it."""
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


@functools.lru_cache(maxsize=_PARSED_URLS)
def _parsed(url: str) -> httpx.URL:
    """A receiver's URL parsed (a few thousand posts go to one): parsing is pure, its checks run at each post."""
    return parse_url(url)


@contextlib.contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    """aiohttp's errors as the guarded client's, with the same reasons; aiohttp's timeouts are TimeoutErrors,
    which `post` would take for its own total timeout, so they are translated here, inside it."""
    try:
        yield
    except BlockedAddressError as exc:
        raise UnsafeURLError(url, exc.reason) from exc
    except aiohttp.ConnectionTimeoutError as exc:
        raise OutboundTimeoutError(url, "timed out connecting to the server") from exc
    except aiohttp.ServerTimeoutError as exc:
        raise OutboundTimeoutError(url, "timed out waiting for the server") from exc
    except aiohttp.InvalidURL as exc:
        raise UnsafeURLError(url, "the URL is not valid") from exc
    except aiohttp.ClientConnectorError as exc:
        refused = exc.os_error
        if isinstance(refused, _RefusedAddressError):
            raise UnsafeURLError(url, refused.reason) from exc
        raise OutboundConnectionError(url, _connect_reason(exc)) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise OutboundConnectionError(url, "the server sent no valid HTTP response") from exc


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    # aiohttp's TLS errors are ssl's types too: the reason is in the one they wrap.
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed: {cause.reason or cause}"
        cause = cause.__cause__ or cause.__context__
    # The OS's words (refused, unreachable): no request data in them.
    reason = exc.os_error.strerror or str(exc.os_error)
    return f"could not connect: {reason}" if reason else "could not connect"
