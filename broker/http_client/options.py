"""What every outbound call obeys, whichever client sends it (the guarded client, the webhook poster): one set of
options, and the network layer, DNS cache and bounds both clients build from it."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass

from broker.http_client.addresses import Resolver, system_resolver
from broker.http_client.limits import PoolLimits, Purpose
from broker.http_client.transport import DNS_TTL, Bounds, CachedResolver, GuardedTransport


@dataclass(frozen=True)
class OutboundOptions:
    """`allow_insecure` (BROKER_ALLOW_INSECURE_PLATFORMS) also allows http:// and loopback/private addresses.
    `resolver` replaces system DNS (tests); the default uses the event loop's getaddrinfo. An answer is kept
    `dns_ttl` seconds (0: none) and checked again at each use. `ssl_context` replaces the default trust (tests).
    """

    user_agent: str
    allow_insecure: bool = False
    total_timeout: float = 10.0
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    max_response_bytes: int = 1_048_576
    resolver: Resolver | None = None
    dns_ttl: float = DNS_TTL
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if not self.user_agent.strip():
            raise ValueError("user_agent is required: some platforms and receivers refuse requests without one")

    @property
    def bounds(self) -> Bounds:
        return Bounds(self.connect_timeout, self.read_timeout, self.max_response_bytes)

    def cached_resolver(self) -> CachedResolver:
        """The DNS the client checks URLs with, its answers kept `dns_ttl` seconds."""
        return CachedResolver(self.resolver or system_resolver, self.dns_ttl)

    def transport(self, resolver: CachedResolver, limits: Mapping[Purpose, PoolLimits]) -> GuardedTransport:
        """The guarded network layer, asking `resolver` (the client's own) for each new connection."""
        return GuardedTransport(
            allow_private=self.allow_insecure, resolver=resolver, ssl_context=self.ssl_context, limits=limits
        )
