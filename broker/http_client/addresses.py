"""The address policy: which URLs and IP addresses the broker may send requests to.

Checked before a request (the URL and what its host resolves to) and again at connect time by the transport,
against DNS rebinding; both use the same rules.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable

import httpx

from broker.http_client.errors import OutboundConnectionError, UnsafeURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str, int], Awaitable[Iterable[str]]]
"""Resolves (host, port) to IP address strings; raises OSError when the name does not resolve."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
# At most this many parsed URLs are kept, each at most this long: a few megabytes at worst.
_REMEMBERED_URLS = 10_000
_REMEMBERED_URL_LENGTH = 1_024
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+", re.IGNORECASE)
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)


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
    port = port_of(url)
    if not 0 < port < 65536:
        raise UnsafeURLError(str(url), "the URL's port is out of range")
    try:
        # The ASCII (IDNA) form is what DNS and the connection pool see.
        host = url.raw_host.decode("ascii")
        await resolve_checked(host, port, resolver, allow_private=allow_insecure)
    except BlockedAddressError as exc:
        raise UnsafeURLError(str(url), exc.reason) from exc
    except OSError as exc:
        raise OutboundConnectionError(str(url), f"the host {url.host} could not be resolved") from exc


def parse_url(url: str) -> httpx.URL:
    """`url` parsed; raises UnsafeURLError. The same few URLs come again and again (a platform's configuration
    and registration endpoints, a receiver's thousands of posts), so the parsed URL of any but a long one is
    remembered: parsing is pure and the URL immutable, and every check still runs on it at each request."""
    if len(url) > _REMEMBERED_URL_LENGTH:
        return _parse_url(url)
    return _remembered_url(url)


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
        # The host is decoded from IDNA on first use; a malformed A-label (xn--) fails only then.
        parsed.host  # noqa: B018
    # ValueError: the IDNA codec's own errors are not InvalidURL.
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeURLError(url, "the URL is not valid") from exc
    if not parsed.is_absolute_url:
        raise UnsafeURLError(url, "the URL must be absolute")
    return parsed


_remembered_url = functools.lru_cache(maxsize=_REMEMBERED_URLS)(_parse_url)


def port_of(url: httpx.URL) -> int:
    return url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme, 0)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_checked(
    host: str, port: int, resolver: Resolver, *, allow_private: bool
) -> tuple[IPAddress, ...]:
    """The host's addresses, each one checked; raises BlockedAddressError, or OSError if unresolved."""
    literal = _host_address(host)
    if literal is None:
        return _checked_answer(host, tuple(await resolver(host, port)), allow_private=allow_private)
    problem = _address_problem(literal, allow_private=allow_private)
    if problem is not None:
        raise BlockedAddressError(f"the address {host} is {problem}")
    return (literal,)


# Pure, and asked about the same few hosts at every request; a refusal raises, so only valid hosts are kept.
@functools.lru_cache(maxsize=4096)
def _host_address(host: str) -> IPAddress | None:
    """The address a host written as one stands for, or None for a valid name; raises BlockedAddressError."""
    literal = _literal_address(host)
    if literal is None:
        _check_host_name(host)
    return literal


# Pure too: a resolver's answer is checked whole at each use, and a kept answer is the same strings each time.
@functools.lru_cache(maxsize=4096)
def _checked_answer(host: str, answer: tuple[str, ...], *, allow_private: bool) -> tuple[IPAddress, ...]:
    addresses = _addresses(host, answer)
    for address in addresses:
        problem = _address_problem(address, allow_private=allow_private)
        if problem is not None:
            raise BlockedAddressError(f"{host} resolves to {address}, which is {problem}")
    return addresses


def check_address(address: IPAddress, *, allow_private: bool) -> None:
    """Raises BlockedAddressError unless the broker may connect to `address` (an address a socket is about to
    connect to, whatever name led there)."""
    problem = _address_problem(address, allow_private=allow_private)
    if problem is not None:
        raise BlockedAddressError(f"the address {address} is {problem}")


def _literal_address(host: str) -> IPAddress | None:
    """The address a host written as one stands for, or None for a name.

    IPv4 is read as browsers and inet_aton read it (127.1, 0x7f.0.0.1, 0177.0.0.1, 2130706433, a trailing
    dot), so no spelling of an address reaches the resolver as if it were a name.
    """
    if ":" in host:
        try:
            # httpx keeps a zone id percent-encoded (fe80::1%25eth0); the address is checked with it.
            return ipaddress.IPv6Address(host.replace("%25", "%", 1))
        except ValueError:
            raise BlockedAddressError(f"{host} is not a valid IPv6 address") from None
    labels = host.split(".")
    if len(labels) > 1 and not labels[-1]:
        labels.pop()
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    try:
        return _ipv4_from_numbers(labels)
    except ValueError:
        raise BlockedAddressError(f"{host} is not a valid IPv4 address") from None


def _ipv4_from_numbers(labels: list[str]) -> ipaddress.IPv4Address:
    if len(labels) > 4 or not all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        raise ValueError("not an IPv4 address")
    *leading, last = [_ipv4_number(label) for label in labels]
    # The last number fills the bytes the others leave: 127.1 is 127.0.0.1.
    if any(number > 255 for number in leading) or last >= 256 ** (4 - len(leading)):
        raise ValueError("an IPv4 number is out of range")
    value = last
    for position, number in enumerate(leading):
        value += number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def _ipv4_number(label: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label)


def _check_host_name(host: str) -> None:
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise BlockedAddressError(f"the host name {host!r} is not valid")


def _addresses(host: str, answer: tuple[str, ...]) -> tuple[IPAddress, ...]:
    addresses: list[IPAddress] = []
    for found in answer:
        try:
            addresses.append(ipaddress.ip_address(found))
        except ValueError as exc:
            raise OSError(f"{host} resolved to something that is not an IP address") from exc
    if not addresses:
        raise OSError(f"no address for {host}")
    return tuple(dict.fromkeys(addresses))


# Pure, and asked about the same few addresses at every request (a platform's, a receiver's), twice each.
@functools.lru_cache(maxsize=4096)
def _address_problem(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why the broker must not connect to this address, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return "scoped to a network interface (a zone id)"
    # The embedded IPv4 address first: it is where the connection really goes, so it names the problem.
    for candidate in (*_embedded_ipv4(address), address):
        problem = _range_problem(candidate, allow_private=allow_private)
        if problem is not None:
            return problem
    return None


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    # These IPv6 forms reach (or once reached) the embedded IPv4 address, so it must pass the same checks.
    if isinstance(address, ipaddress.IPv4Address):
        return []
    embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if any(address in prefix for prefix in _LOW_32_BITS_PREFIXES) and int(address) > 1:
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
    if address == _BROADCAST:
        return "the broadcast address"
    if allow_private:
        return None
    denied = _DENIED_IPV4 if isinstance(address, ipaddress.IPv4Address) else _DENIED_IPV6
    for network, kind in denied:
        if address in network:
            return kind
    # Whatever the list above misses and the registry marks as not global (new assignments included).
    if not address.is_global:
        return "not a public address"
    return None


def _networks(*entries: tuple[str, str]) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.ip_network(network), kind) for network, kind in entries)


# Special-purpose ranges (the IANA registries, RFC 6890 and its updates). Python's is_global lags the
# registries and calls some of these global (192.0.0.8, 192.88.99.0/24, fec0::/10, 3fff::/20), so the
# list is explicit; is_global still catches what it adds later.
_DENIED_IPV4 = _networks(
    ("0.0.0.0/8", "a 'this network' address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("127.0.0.0/8", "a loopback address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "an IETF protocol assignment address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.31.196.0/24", "an AS112 DNS address"),
    ("192.52.193.0/24", "an AMT relay address"),
    ("192.88.99.0/24", "a 6to4 relay anycast address"),
    ("192.168.0.0/16", "a private address"),
    ("192.175.48.0/24", "an AS112 DNS address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("240.0.0.0/4", "a reserved address"),
)
_DENIED_IPV6 = _networks(
    ("::1/128", "a loopback address"),
    ("::ffff:0:0/96", "an IPv4-mapped address"),
    ("::ffff:0:0:0/96", "an IPv4-translated address"),
    ("::/96", "an IPv4-compatible address"),
    ("64:ff9b:1::/48", "a local-use NAT64 address"),
    ("100::/64", "a discard-only address"),
    ("2001::/32", "a Teredo address"),
    ("2001::/23", "an IETF protocol assignment address"),
    ("2001:db8::/32", "a documentation address"),
    ("2002::/16", "a 6to4 address"),
    ("3fff::/20", "a documentation address"),
    ("5f00::/16", "a segment routing address"),
    ("fc00::/7", "a private (unique local) address"),
    ("fec0::/10", "a site-local address"),
)
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
# IPv6 forms whose low 32 bits are the IPv4 address they lead to: NAT64, IPv4-compatible, IPv4-translated.
_LOW_32_BITS_PREFIXES = tuple(ipaddress.IPv6Network(prefix) for prefix in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96"))
