"""The address policy: which URLs and IP addresses the broker may send requests to.

Checked before a request (the URL and what its host resolves to) and again at connect time by the transport,
against DNS rebinding; both use the same rules.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

import httpx

from broker.http_client.errors import OutboundConnectionError, UnsafeURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str, int], Awaitable[Iterable[str]]]
"""Resolves (host, port) to IP address strings; raises OSError when the name does not resolve."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddressError(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


async def check_url_is_public(url: str, *, allow_insecure: bool, resolver: Resolver | None = None) -> None:
    """Raises UnsafeURLError (or OutboundConnectionError when the host does not resolve) unless the guarded
    client would send to `url` now; for checking a URL when it is configured, long before it is used."""
    await check_url_allowed(parse_url(url), allow_insecure=allow_insecure, resolver=resolver or system_resolver)


async def check_url_allowed(url: httpx.URL, *, allow_insecure: bool, resolver: Resolver) -> None:
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
        await resolve_checked(host, port_of(url), resolver, allow_private=allow_insecure)
    except BlockedAddressError as exc:
        raise UnsafeURLError(str(url), exc.reason) from exc
    except OSError as exc:
        raise OutboundConnectionError(str(url), f"the host {url.host} could not be resolved") from exc


def parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeURLError(url, "the URL is not valid") from exc
    if not parsed.is_absolute_url:
        raise UnsafeURLError(url, "the URL must be absolute")
    return parsed


def port_of(url: httpx.URL) -> int:
    return url.port or _DEFAULT_PORTS[url.scheme]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_checked(host: str, port: int, resolver: Resolver, *, allow_private: bool) -> list[IPAddress]:
    """The host's addresses, each one checked; raises BlockedAddressError, or OSError if unresolved."""
    literal = _ip_literal(host)
    addresses = [literal] if literal is not None else await _resolve(host, port, resolver)
    for address in addresses:
        problem = _address_problem(address, allow_private=allow_private)
        if problem is None:
            continue
        if literal is not None:
            raise BlockedAddressError(f"the address {host} is {problem}")
        raise BlockedAddressError(f"{host} resolves to {address}, which is {problem}")
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
