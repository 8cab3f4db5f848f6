"""The guarded network layer against real loopback servers: connect-time checks, DNS answers kept, keep-alive,
TLS, a pool per purpose."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import httpx
import pytest

from broker.http_client import (
    GuardedClient,
    OutboundConnectionError,
    OutboundOptions,
    OutboundTimeoutError,
    Purpose,
    UnsafeURLError,
)
from broker.http_client.addresses import BlockedAddressError
from broker.http_client.limits import POOL_LIMITS, PoolLimits
from broker.http_client.transport import Bounds, CachedResolver, CheckedResolver, GuardedTransport, checked_socket
from tests.broker.http_client.ssrf import ALWAYS_REFUSED, SSRF_TABLE
from tests.broker.http_client.support import (
    PUBLIC_IP,
    USER_AGENT,
    CountingDNS,
    FakeDNS,
    LiveServer,
    RebindingDNS,
    closed_port,
    eventually,
    hanging_up_server,
    silent_server,
)


async def test_insecure_mode_reaches_a_loopback_http_server(live_server: LiveServer) -> None:
    async with GuardedClient(OutboundOptions(user_agent=USER_AGENT, allow_insecure=True)) as client:
        response = await client.get(live_server.url("/moved"), purpose=Purpose.REGISTRATION)

    assert response.status_code == 200
    assert response.url == live_server.url("/config")
    assert response.json()["user_agent"] == USER_AGENT


async def test_connections_are_kept_alive_between_calls(live_server: LiveServer) -> None:
    async with GuardedClient(OutboundOptions(user_agent=USER_AGENT, allow_insecure=True)) as client:
        first = await client.get(live_server.url("/config"), purpose=Purpose.REGISTRATION)
        second = await client.get(live_server.url("/config"), purpose=Purpose.REGISTRATION)

    assert first.json()["client_port"] == second.json()["client_port"]


async def test_secure_mode_refuses_the_same_loopback_server(live_server: LiveServer) -> None:
    before = len(live_server.hits)

    async with GuardedClient(OutboundOptions(user_agent=USER_AGENT)) as client:
        for scheme in ("http", "https"):
            with pytest.raises(UnsafeURLError):
                await client.get(live_server.url("/config", scheme=scheme), purpose=Purpose.REGISTRATION)

    assert len(live_server.hits) == before


async def test_dns_rebinding_is_caught_at_connect_time(live_server: LiveServer) -> None:
    before = len(live_server.hits)

    async with GuardedClient(OutboundOptions(user_agent=USER_AGENT, resolver=RebindingDNS(), dns_ttl=0)) as client:
        with pytest.raises(UnsafeURLError) as caught:
            await client.get(
                live_server.url("/config", scheme="https", host="rebind.test"), purpose=Purpose.REGISTRATION
            )

    assert "127.0.0.1" in caught.value.reason
    assert len(live_server.hits) == before


async def test_a_platforms_name_is_resolved_once_within_the_cache_time(live_server: LiveServer) -> None:
    dns = CountingDNS({"lms.test": ["127.0.0.1"]})

    async with GuardedClient(OutboundOptions(user_agent=USER_AGENT, allow_insecure=True, resolver=dns)) as client:
        for _ in range(3):
            await client.get(live_server.url("/config", host="lms.test"), purpose=Purpose.REGISTRATION)

    assert dns.asked == 1


async def test_a_name_that_did_not_resolve_is_asked_again() -> None:
    dns = CountingDNS({})
    resolver = CachedResolver(dns, ttl=60)

    for _ in range(2):
        with pytest.raises(socket.gaierror):
            await resolver("gone.test", 443)

    assert dns.asked == 2


async def test_a_kept_answer_is_checked_again_at_each_use() -> None:
    # The check is the guard's, not the cache's: a kept loopback answer is refused by a secure resolver every time.
    cached = CachedResolver(FakeDNS({"inside.test": ["127.0.0.1"]}), ttl=60)
    guard = CheckedResolver(cached, allow_private=False)

    for _ in range(2):
        with pytest.raises(BlockedAddressError):
            await guard.resolve("inside.test", 443)


async def test_the_connect_time_guard_refuses_loopback_on_its_own(live_server: LiveServer) -> None:
    # Past the client's checks (a transport used directly): the resolver and the socket factory still refuse.
    guarded = GuardedTransport(allow_private=False, resolver=FakeDNS({"inside.test": ["127.0.0.1"]}))
    bounds = Bounds(connect_timeout=1, read_timeout=1, max_response_bytes=1000)
    before = len(live_server.hits)

    async with contextlib.aclosing(guarded):
        for host in ("inside.test", "127.0.0.1"):
            with pytest.raises(UnsafeURLError) as caught:
                url = httpx.URL(live_server.url("/config", host=host))
                await guarded.send("GET", url, [], None, purpose=Purpose.REGISTRATION, bounds=bounds)
            assert "loopback" in caught.value.reason

    assert len(live_server.hits) == before


@pytest.mark.parametrize(("host", "address", "kind"), SSRF_TABLE)
async def test_the_connect_time_guard_refuses_every_internal_address(host: str, address: str, kind: str) -> None:
    # What a rebinding name resolves to by the time of the connect, and the literal address a socket is made for.
    guard = CheckedResolver(FakeDNS({"rebound.test": [address]}), allow_private=False)
    literal = httpx.URL(f"https://{host}/").raw_host.decode("ascii")

    for name in ("rebound.test", literal):
        with pytest.raises(BlockedAddressError) as caught:
            await guard.resolve(name, 443, family=socket.AF_UNSPEC)
        assert kind in caught.value.reason
    with pytest.raises(OSError, match=kind):
        checked_socket(_addr_info(address), allow_private=False)


@pytest.mark.parametrize(("host", "address", "kind"), [row for row in SSRF_TABLE if row[2] in ALWAYS_REFUSED])
async def test_insecure_mode_still_refuses_metadata_and_non_host_addresses(host: str, address: str, kind: str) -> None:
    guard = CheckedResolver(FakeDNS({"meta.test": [address]}), allow_private=True)

    with pytest.raises(BlockedAddressError):
        await guard.resolve("meta.test", 80, family=socket.AF_UNSPEC)
    with pytest.raises(OSError, match=kind):
        checked_socket(_addr_info(address), allow_private=True)


async def test_the_socket_guard_lets_a_public_address_through() -> None:
    checked_socket(_addr_info(PUBLIC_IP), allow_private=False).close()


def _addr_info(address: str) -> tuple[int, int, int, str, tuple[object, ...]]:
    """What a socket factory is given for a connect to `address` (an IPv6 one with its zone id's index)."""
    if ":" not in address:
        return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, 443))
    scope = 1 if "%" in address else 0
    return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, 443, 0, scope))


async def test_a_dead_address_falls_through_to_the_next_one(live_server: LiveServer) -> None:
    # Nothing listens on 127.0.0.2 at this port: the first address refuses, the second one answers.
    dns = FakeDNS({"dual.test": ["127.0.0.2", "127.0.0.1"]})

    async with GuardedClient(OutboundOptions(user_agent=USER_AGENT, allow_insecure=True, resolver=dns)) as client:
        response = await client.get(live_server.url("/config", host="dual.test"), purpose=Purpose.REGISTRATION)

    assert response.status_code == 200


async def test_a_slow_server_is_a_timeout(live_server: LiveServer) -> None:
    # The server answers after 1 s, well within the default read timeout: only the 0.2 s one makes this an error.
    async with GuardedClient(OutboundOptions(user_agent=USER_AGENT, allow_insecure=True, read_timeout=0.2)) as client:
        with pytest.raises(OutboundTimeoutError):
            await client.get(live_server.url("/slow"), purpose=Purpose.REGISTRATION)


async def test_a_refused_connection_is_a_connection_error() -> None:
    async with GuardedClient(OutboundOptions(user_agent=USER_AGENT, allow_insecure=True)) as client:
        with pytest.raises(OutboundConnectionError):
            await client.get(f"http://127.0.0.1:{closed_port()}/config", purpose=Purpose.REGISTRATION)


# --- TLS through the guarded network layer: connect to a checked IP, verify the hostname ---


async def test_tls_verifies_the_hostname_while_connecting_to_the_checked_address(
    tls_server: LiveServer, tls_options: OutboundOptions
) -> None:
    async with GuardedClient(tls_options) as client:
        response = await client.get(
            tls_server.url("/config", scheme="https", host="platform.test"), purpose=Purpose.REGISTRATION
        )

    assert response.json()["user_agent"] == USER_AGENT


async def test_tls_refuses_a_certificate_for_another_name(tls_server: LiveServer, tls_options: OutboundOptions) -> None:
    async with GuardedClient(tls_options) as client:
        with pytest.raises(OutboundConnectionError) as caught:
            await client.get(tls_server.url("/config", scheme="https", host="127.0.0.1"), purpose=Purpose.REGISTRATION)

    assert "TLS" in caught.value.reason


# --- A pool per purpose, a share of it per destination ---


async def test_slow_anonymous_registration_fetches_cannot_starve_a_tenants_token_request(
    live_server: LiveServer,
) -> None:
    # 105 registration fetches to a platform that never answers held all 100 connections of the one shared
    # pool, and the token request timed out waiting for a connection.
    share = POOL_LIMITS[Purpose.REGISTRATION].per_destination
    dns = FakeDNS({"slow.test": ["127.0.0.1"], "lms.test": ["127.0.0.1"]})
    options = OutboundOptions(
        user_agent=USER_AGENT, allow_insecure=True, resolver=dns, connect_timeout=0.5, total_timeout=30, read_timeout=30
    )
    client = GuardedClient(options)
    async with silent_server() as slow, client:
        fetches = [
            asyncio.create_task(client.get(slow.url("/config", host="slow.test"), purpose=Purpose.REGISTRATION))
            for _ in range(105)
        ]
        await eventually(lambda: len(slow.connections) >= share)

        token = await client.post_form(
            live_server.url("/token", host="lms.test"),
            {"grant_type": "client_credentials"},
            purpose=Purpose.SERVICE_TOKENS,
        )
        # Another platform's registration is not held up either: the slow one has only its share.
        other = await client.get(live_server.url("/config", host="lms.test"), purpose=Purpose.REGISTRATION)
        held = len(slow.connections)
        # The fetches past the slow platform's share give up waiting for a place; the others hold theirs.
        await eventually(lambda: sum(fetch.done() for fetch in fetches) == 105 - share)
        waited = [fetch.exception() for fetch in fetches if fetch.done()]
        holding = [fetch for fetch in fetches if not fetch.done()]
        slow.release.set()
        outcomes = await asyncio.gather(*holding, return_exceptions=True)

    assert token.json()["access_token"] == "granted"
    assert other.status_code == 200
    assert held == share
    assert all(isinstance(error, OutboundTimeoutError) for error in waited)
    assert {error.reason for error in waited if isinstance(error, OutboundTimeoutError)} == {
        "timed out waiting for a free connection: too many requests are under way"
    }
    assert len(outcomes) == share
    assert all(isinstance(outcome, OutboundConnectionError) for outcome in outcomes)


def single_connection_client(**options: Any) -> GuardedClient:
    limits = {Purpose.REGISTRATION: PoolLimits(connections=1, per_destination=1, keepalive_expiry=5)}
    return GuardedClient(
        OutboundOptions(
            user_agent=USER_AGENT, allow_insecure=True, resolver=FakeDNS(), connect_timeout=0.25, **options
        ),
        limits=limits,
    )


async def test_a_destinations_place_is_given_back_once_the_answer_is_read(live_server: LiveServer) -> None:
    async with single_connection_client() as client:
        for _ in range(3):
            response = await client.get(live_server.url("/config"), purpose=Purpose.REGISTRATION)
            assert response.status_code == 200


async def test_a_destinations_place_is_given_back_when_the_request_fails(live_server: LiveServer) -> None:
    async with single_connection_client() as client:
        for _ in range(2):
            with pytest.raises(OutboundConnectionError):
                await client.get(f"http://127.0.0.1:{closed_port()}/config", purpose=Purpose.REGISTRATION)
        response = await client.get(live_server.url("/config"), purpose=Purpose.REGISTRATION)

    assert response.status_code == 200


async def test_a_destinations_place_is_given_back_when_the_caller_gives_up() -> None:
    async with silent_server() as slow, single_connection_client(total_timeout=1.0) as client:
        outcomes = []
        for _ in range(2):
            with pytest.raises(OutboundTimeoutError) as caught:
                await client.get(slow.url("/config", host="127.0.0.1"), purpose=Purpose.REGISTRATION)
            outcomes.append(caught.value.reason)

    # Both gave up waiting for the server's answer; the second never waited behind the abandoned first.
    assert outcomes == ["no complete answer within 1 s"] * 2
    assert len(slow.connections) == 2


async def test_connections_are_kept_alive_per_purpose(live_server: LiveServer) -> None:
    async with GuardedClient(OutboundOptions(user_agent=USER_AGENT, allow_insecure=True)) as client:
        keys = [await client.get(live_server.url("/config"), purpose=Purpose.PLATFORM_KEYS) for _ in range(2)]
        token = await client.get(live_server.url("/config"), purpose=Purpose.SERVICE_TOKENS)

    assert keys[0].json()["client_port"] == keys[1].json()["client_port"]
    assert token.json()["client_port"] != keys[0].json()["client_port"]


async def test_a_kept_connection_the_server_closed_meanwhile_is_not_used_again() -> None:
    async with (
        hanging_up_server() as server,
        GuardedClient(OutboundOptions(user_agent=USER_AGENT, allow_insecure=True)) as client,
    ):
        first = await client.post_json(server.url, {}, purpose=Purpose.WEBHOOKS)
        await server.answered.wait()
        await asyncio.sleep(0.05)  # the hang-up reaches the client's socket
        second = await client.post_json(server.url, {}, purpose=Purpose.WEBHOOKS)

    assert first.status_code == second.status_code == 200
    assert len(server.ports) == 2 and server.ports[0] != server.ports[1], "the second call went over a new connection"
