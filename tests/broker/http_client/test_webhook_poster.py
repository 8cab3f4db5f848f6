"""The webhook poster against real loopback servers: every rule of the guarded client, on its own client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from broker.http_client import (
    OutboundConnectionError,
    OutboundOptions,
    OutboundTimeoutError,
    ResponseTooLargeError,
    UnsafeURLError,
    WebhookPoster,
)
from tests.broker.http_client.support import (
    USER_AGENT,
    CountingDNS,
    FakeDNS,
    LiveServer,
    RebindingDNS,
    closed_port,
    hanging_up_server,
    silent_server,
)

BODY = b'{"type":"registration.updated","data":{"id":"reg_1"}}'
SIGNED = {"webhook-id": "msg_1", "webhook-signature": "v1,c2lnbmVk", "Content-Type": "application/json"}


async def test_a_post_arrives_as_signed_with_the_brokers_headers(live_server: LiveServer) -> None:
    async with _poster(allow_insecure=True) as poster:
        answer = await poster.post(live_server.url("/echo"), BODY, SIGNED)

    sent = answer.json()
    assert answer.status_code == 200
    assert sent["body"] == BODY.decode()
    assert sent["headers"]["webhook-id"] == "msg_1" and sent["headers"]["webhook-signature"] == "v1,c2lnbmVk"
    assert sent["headers"]["content-type"] == "application/json"
    assert sent["headers"]["user-agent"] == USER_AGENT
    assert sent["headers"]["accept-encoding"] == "gzip, deflate"


async def test_connections_are_kept_alive_and_no_cookie_comes_back(live_server: LiveServer) -> None:
    async with _poster(allow_insecure=True) as poster:
        first = (await poster.post(live_server.url("/echo"), BODY, SIGNED)).json()
        second = (await poster.post(live_server.url("/echo"), BODY, SIGNED)).json()

    assert first["client_port"] == second["client_port"]
    assert "cookie" not in second["headers"]


async def test_secure_mode_refuses_a_loopback_receiver(live_server: LiveServer) -> None:
    before = len(live_server.hits)

    async with _poster() as poster:
        for scheme in ("http", "https"):
            with pytest.raises(UnsafeURLError):
                await poster.post(live_server.url("/echo", scheme=scheme), BODY, SIGNED)

    assert len(live_server.hits) == before


async def test_dns_rebinding_is_caught_at_connect_time(live_server: LiveServer) -> None:
    before = len(live_server.hits)

    async with _poster(resolver=RebindingDNS(), dns_ttl=0) as poster:
        with pytest.raises(UnsafeURLError) as caught:
            await poster.post(live_server.url("/echo", scheme="https", host="rebind.test"), BODY, SIGNED)

    assert "127.0.0.1" in caught.value.reason
    assert len(live_server.hits) == before


async def test_a_receivers_name_is_resolved_once_within_the_cache_time(live_server: LiveServer) -> None:
    dns = CountingDNS({"hooks.test": ["127.0.0.1"]})

    async with _poster(allow_insecure=True, resolver=dns) as poster:
        for _ in range(3):
            await poster.post(live_server.url("/echo", host="hooks.test"), BODY, SIGNED)

    assert dns.asked == 1


async def test_a_redirect_is_the_receivers_answer_and_is_not_followed(live_server: LiveServer) -> None:
    before = len(live_server.hits)

    async with _poster(allow_insecure=True) as poster:
        answer = await poster.post(live_server.url("/moved"), BODY, SIGNED)

    assert answer.status_code == 302
    assert live_server.hits[before:] == ["/moved"]


async def test_proxies_from_the_environment_are_ignored(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    async with _poster(allow_insecure=True) as poster:
        answer = await poster.post(live_server.url("/echo"), BODY, SIGNED)

    assert answer.status_code == 200


async def test_an_answer_over_the_size_cap_is_refused(live_server: LiveServer) -> None:
    async with _poster(allow_insecure=True, max_response_bytes=64) as poster:
        with pytest.raises(ResponseTooLargeError):
            await poster.post(live_server.url("/echo"), BODY, SIGNED)


async def test_a_dead_address_falls_through_to_the_next_one(live_server: LiveServer) -> None:
    # Nothing listens on 127.0.0.2 at this port: the first address refuses, the second one answers.
    dns = FakeDNS({"dual.test": ["127.0.0.2", "127.0.0.1"]})

    async with _poster(allow_insecure=True, resolver=dns) as poster:
        answer = await poster.post(live_server.url("/echo", host="dual.test"), BODY, SIGNED)

    assert answer.status_code == 200


async def test_a_receiver_that_does_not_answer_is_a_timeout() -> None:
    async with silent_server() as silent, _poster(allow_insecure=True, read_timeout=0.2) as poster:
        with pytest.raises(OutboundTimeoutError) as read:
            await poster.post(silent.url("/hook", host="127.0.0.1"), BODY, SIGNED)
    async with silent_server() as silent, _poster(allow_insecure=True, total_timeout=0.3) as poster:
        with pytest.raises(OutboundTimeoutError) as total:
            await poster.post(silent.url("/hook", host="127.0.0.1"), BODY, SIGNED)

    assert read.value.reason == "timed out waiting for the server"
    assert total.value.reason == "no complete answer within 0.3 s"


async def test_a_refused_connection_is_a_connection_error() -> None:
    async with _poster(allow_insecure=True) as poster:
        with pytest.raises(OutboundConnectionError) as caught:
            await poster.post(f"http://127.0.0.1:{closed_port()}/hook", BODY, SIGNED)

    assert caught.value.reason.startswith("could not connect")


async def test_tls_verifies_the_hostname_while_connecting_to_the_checked_address(
    tls_server: LiveServer, tls_options: OutboundOptions
) -> None:
    async with WebhookPoster(tls_options) as poster:
        answer = await poster.post(tls_server.url("/echo", scheme="https", host="platform.test"), BODY, SIGNED)

    assert answer.json()["body"] == BODY.decode()


async def test_tls_refuses_a_certificate_for_another_name(tls_server: LiveServer, tls_options: OutboundOptions) -> None:
    async with WebhookPoster(tls_options) as poster:
        with pytest.raises(OutboundConnectionError) as caught:
            await poster.post(tls_server.url("/echo", scheme="https", host="127.0.0.1"), BODY, SIGNED)

    assert "TLS" in caught.value.reason


async def test_a_kept_connection_the_server_closed_meanwhile_is_not_used_again() -> None:
    async with hanging_up_server() as server, _poster(allow_insecure=True) as poster:
        first = await poster.post(server.url, b"{}", SIGNED)
        await server.answered.wait()
        await asyncio.sleep(0.05)  # the hang-up reaches the client's socket
        second = await poster.post(server.url, b"{}", SIGNED)

    assert first.status_code == second.status_code == 200
    assert len(server.ports) == 2 and server.ports[0] != server.ports[1], "the second post went over a new connection"


def _poster(**options: Any) -> WebhookPoster:
    return WebhookPoster(OutboundOptions(user_agent=USER_AGENT, **options))
