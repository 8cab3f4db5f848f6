"""The guarded network layer: httpcore pools whose TCP connects go only to addresses the policy allows."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any

import httpcore
import httpx

from broker.http_client.addresses import IPAddress, Resolver, resolve_checked
from broker.http_client.limits import POOL_LIMITS, KeyedLimiter, PoolLimits, Purpose


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
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
                stream = await self._backend.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
                return _KeptStream(stream)
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
                return await resolve_checked(host, port, self._resolver, allow_private=self._allow_private)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"timed out resolving {host}") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}") from exc


class _KeptStream(httpcore.AsyncNetworkStream):
    """A connected stream that answers cheaply whether the server has closed it. httpcore asks that of every idle
    connection in the pool before and after each request, and anyio's own answer rebuilds every socket attribute
    (a getpeername call among them) each time: that was most of the cost of a webhook post on a kept connection."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._readable: select.poll | None = None
        sock: socket.socket | None = stream.get_extra_info("socket")
        if sock is not None:
            # Registered once: each question is then one system call.
            self._readable = select.poll()
            self._readable.register(sock, select.POLLIN)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        return _KeptStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._readable is not None:
            # Readable while idle means the server closed it (or sent what nobody asked for): not reusable.
            return bool(self._readable.poll(0))
        return self._stream.get_extra_info(info)


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one httpcore pool per purpose, all using the guarded network backend.

    A request names its purpose in `request.extensions["purpose"]`; within that purpose's pool, each
    destination (scheme, host, port) has at most its share of requests under way, and the rest wait for a
    place no longer than the pool timeout.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver,
        ssl_context: ssl.SSLContext | None = None,
        limits: Mapping[Purpose, PoolLimits] = POOL_LIMITS,
    ) -> None:
        backend = GuardedNetworkBackend(allow_private=allow_private, resolver=resolver)
        context = ssl_context or httpx.create_ssl_context()
        self._pools = {purpose: _PurposePool(pool_limits, context, backend) for purpose, pool_limits in limits.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self._pools[Purpose(request.extensions["purpose"])]
        destination = (request.url.raw_scheme, request.url.raw_host, request.url.port)
        try:
            await pool.destinations.acquire(destination, timeout=request.extensions["timeout"].get("pool"))
        except TimeoutError as exc:
            raise httpx.PoolTimeout(f"too many requests to {request.url.host} are under way") from exc
        try:
            response = await _send(pool.connections, request)
        except BaseException:
            pool.destinations.release(destination)
            raise
        # The place is held until the answer is read or dropped: the connection is busy until then.
        assert isinstance(response.stream, _ResponseStream)
        response.stream.on_close = lambda: pool.destinations.release(destination)
        return response

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.connections.aclose()


class _PurposePool:
    def __init__(self, limits: PoolLimits, ssl_context: ssl.SSLContext, backend: GuardedNetworkBackend) -> None:
        self.connections = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.connections,
            max_keepalive_connections=limits.keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
        self.destinations = KeyedLimiter(limits.per_destination)


async def _send(pool: httpcore.AsyncConnectionPool, request: httpx.Request) -> httpx.Response:
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
        core_response = await pool.handle_async_request(core_request)
    assert isinstance(core_response.stream, AsyncIterable)
    return httpx.Response(
        status_code=core_response.status,
        headers=core_response.headers,
        stream=_ResponseStream(core_response.stream),
        extensions=core_response.extensions,
    )


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream
        self.on_close: Callable[[], None] | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _map_httpcore_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
        finally:
            on_close, self.on_close = self.on_close, None
            if on_close is not None:
                on_close()


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
