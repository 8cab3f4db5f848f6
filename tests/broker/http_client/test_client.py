"""The guarded client: redirects, size and time bounds, and what every request carries."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.requests import Request
from starlette.responses import Response

from broker.http_client import (
    GuardedClient,
    OutboundConnectionError,
    OutboundOptions,
    OutboundTimeoutError,
    Purpose,
    ResponseTooLargeError,
    TooManyRedirectsError,
    UnsafeURLError,
)
from tests.broker.http_client.support import (
    PLATFORM_DNS,
    USER_AGENT,
    FakeDNS,
    LoopbackTransport,
    ScriptedPlatform,
    closed_port,
    raw_server,
    unaccepting_port,
)

# --- Redirects ---


async def test_a_redirect_to_a_blocked_address_is_refused(platform: ScriptedPlatform, client: GuardedClient) -> None:
    platform.get("https://platform.test/config").respond(
        302, headers={"Location": "https://169.254.169.254/latest/meta-data/"}
    )
    metadata = platform.get("https://169.254.169.254/latest/meta-data/").respond(200, text="secrets")

    with pytest.raises(UnsafeURLError):
        await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)

    assert not metadata.called


async def test_a_redirect_to_plain_http_is_refused(platform: ScriptedPlatform, client: GuardedClient) -> None:
    platform.get("https://platform.test/config").respond(301, headers={"Location": "http://platform.test/config"})
    plain = platform.get("http://platform.test/config").respond(200, json={})

    with pytest.raises(UnsafeURLError):
        await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)

    assert not plain.called


def redirect_chain(platform: ScriptedPlatform, hops: int) -> None:
    for index in range(hops):
        platform.get(f"https://platform.test/hop/{index}").respond(302, headers={"Location": f"/hop/{index + 1}"})
    platform.get(f"https://platform.test/hop/{hops}").respond(200, json={"hops": hops})


async def test_follows_up_to_the_redirect_limit(platform: ScriptedPlatform, client: GuardedClient) -> None:
    redirect_chain(platform, hops=3)

    response = await client.get("https://platform.test/hop/0", purpose=Purpose.REGISTRATION)

    assert response.json() == {"hops": 3}
    assert response.url == "https://platform.test/hop/3"


async def test_one_redirect_past_the_limit_fails(platform: ScriptedPlatform, client: GuardedClient) -> None:
    redirect_chain(platform, hops=4)

    with pytest.raises(TooManyRedirectsError):
        await client.get("https://platform.test/hop/0", purpose=Purpose.REGISTRATION)

    assert len(platform.calls) == 4


async def test_redirect_limit_is_configurable(platform: ScriptedPlatform) -> None:
    redirect_chain(platform, hops=1)

    async with platform.client(max_redirects=0) as client:
        with pytest.raises(TooManyRedirectsError):
            await client.get("https://platform.test/hop/0", purpose=Purpose.REGISTRATION)


async def test_authorization_is_not_forwarded_to_another_origin(
    platform: ScriptedPlatform, client: GuardedClient
) -> None:
    platform.get("https://platform.test/token").respond(302, headers={"Location": "https://other.test/token"})
    other = platform.get("https://other.test/token").respond(200, json={})

    await client.get(
        "https://platform.test/token", purpose=Purpose.REGISTRATION, headers={"Authorization": "Bearer reg-token"}
    )

    assert other.called
    assert "authorization" not in other.calls[-1].headers


async def test_authorization_is_kept_on_a_same_origin_redirect(
    platform: ScriptedPlatform, client: GuardedClient
) -> None:
    platform.get("https://platform.test/token").respond(302, headers={"Location": "/token/v2"})
    moved = platform.get("https://platform.test/token/v2").respond(200, json={})

    await client.get(
        "https://platform.test/token", purpose=Purpose.REGISTRATION, headers={"Authorization": "Bearer reg-token"}
    )

    assert moved.calls[-1].headers["authorization"] == "Bearer reg-token"


async def test_a_post_does_not_follow_redirects_by_default(platform: ScriptedPlatform, client: GuardedClient) -> None:
    platform.post("https://platform.test/register").respond(307, headers={"Location": "https://other.test/x"})
    other = platform.route(host="other.test").respond(201, json={})

    response = await client.post_json(
        "https://platform.test/register", {"client_name": "Tool"}, purpose=Purpose.REGISTRATION
    )

    assert response.status_code == 307
    assert not other.called


async def test_a_307_resends_the_post_body_when_following(platform: ScriptedPlatform, client: GuardedClient) -> None:
    platform.post("https://platform.test/register").respond(307, headers={"Location": "/register/v2"})
    moved = platform.post("https://platform.test/register/v2").respond(201, json={"client_id": "abc"})

    response = await client.request(
        "POST",
        "https://platform.test/register",
        purpose=Purpose.REGISTRATION,
        json={"client_name": "Tool"},
        follow_redirects=True,
    )

    assert response.status_code == 201
    assert json.loads(moved.calls[-1].content) == {"client_name": "Tool"}


async def test_a_303_becomes_a_get_without_the_body(platform: ScriptedPlatform, client: GuardedClient) -> None:
    platform.post("https://platform.test/register").respond(303, headers={"Location": "/done"})
    done = platform.get("https://platform.test/done").respond(200, json={})

    await client.request(
        "POST", "https://platform.test/register", purpose=Purpose.REGISTRATION, json={"a": 1}, follow_redirects=True
    )

    sent = done.calls[-1]
    assert sent.content == b""
    assert "content-type" not in sent.headers


# --- Response size ---


async def test_a_declared_content_length_over_the_cap_is_refused_unread(platform: ScriptedPlatform) -> None:
    # The body never comes: only a refusal made on the header alone can end the call before its timeout.
    platform.get("https://platform.test/jwks").respond(
        200, headers={"Content-Length": "10000"}, chunks=[], then_hang=True
    )

    async with platform.client(max_response_bytes=5000, total_timeout=30, read_timeout=30) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.get("https://platform.test/jwks", purpose=Purpose.REGISTRATION)


async def test_a_streamed_body_over_the_cap_is_cut_off(platform: ScriptedPlatform) -> None:
    # Past the cap the body goes on for ever: only a cut at the cap ends the call before its timeout.
    platform.get("https://platform.test/jwks").respond(200, chunks=[b"x" * 1000] * 6, then_hang=True)

    async with platform.client(max_response_bytes=5000, total_timeout=30, read_timeout=30) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.get("https://platform.test/jwks", purpose=Purpose.REGISTRATION)


async def test_a_body_exactly_at_the_cap_is_accepted(platform: ScriptedPlatform) -> None:
    platform.get("https://platform.test/jwks").respond(200, chunks=[b"x" * 1000] * 5)

    async with platform.client(max_response_bytes=5000) as client:
        response = await client.get("https://platform.test/jwks", purpose=Purpose.REGISTRATION)

    assert len(response.content) == 5000


# --- Timeouts and connection failures ---


async def test_the_total_timeout_covers_the_whole_redirect_chain(platform: ScriptedPlatform) -> None:
    hops: list[str] = []

    async def slow_hop(request: Request) -> Response:
        hops.append(request.url.path)
        await asyncio.sleep(0.15)
        step = int(request.url.path.rsplit("/", 1)[1])
        return Response(status_code=302, headers={"Location": f"/hop/{step + 1}"})

    platform.route(host="platform.test").mock(slow_hop)

    # No single hop comes near the connect or read timeout; only the total can stop the chain.
    async with platform.client(total_timeout=0.4) as client:
        with pytest.raises(OutboundTimeoutError) as caught:
            await client.get("https://platform.test/hop/0", purpose=Purpose.REGISTRATION)

    assert len(hops) >= 2
    assert "0.4 s" in caught.value.reason


async def test_a_server_that_does_not_answer_in_time_is_a_read_timeout(platform: ScriptedPlatform) -> None:
    platform.get("https://platform.test/config").respond(200, json={}, delay=2)

    async with platform.client(read_timeout=0.2) as client:
        with pytest.raises(OutboundTimeoutError) as caught:
            await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)

    assert caught.value.reason == "timed out waiting for the server"


async def test_a_connect_that_does_not_complete_in_time_is_a_connect_timeout() -> None:
    with unaccepting_port() as port:
        transport = LoopbackTransport(port)
        async with GuardedClient(
            OutboundOptions(user_agent=USER_AGENT, resolver=FakeDNS(PLATFORM_DNS), connect_timeout=0.2),
            transport=transport,
        ) as client:
            with pytest.raises(OutboundTimeoutError) as caught:
                await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)

    assert caught.value.reason == "timed out connecting to the server"


async def test_a_refused_connection_is_a_connection_error() -> None:
    transport = LoopbackTransport(closed_port())
    async with GuardedClient(
        OutboundOptions(user_agent=USER_AGENT, resolver=FakeDNS(PLATFORM_DNS)), transport=transport
    ) as client:
        with pytest.raises(OutboundConnectionError) as caught:
            await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)

    assert caught.value.reason == "could not connect: Connection refused"


@pytest.mark.parametrize(
    "answer",
    [b"HTTP/1.1 abc illegal status line\r\n\r\n", b"not http at all\r\n\r\n", b""],
    ids=["illegal-status-line", "not-http", "hang-up"],
)
async def test_an_answer_that_is_not_http_is_a_connection_error(answer: bytes) -> None:
    async with raw_server(answer) as port:
        transport = LoopbackTransport(port)
        async with GuardedClient(
            OutboundOptions(user_agent=USER_AGENT, allow_insecure=True, resolver=FakeDNS(PLATFORM_DNS)),
            transport=transport,
        ) as client:
            with pytest.raises(OutboundConnectionError) as caught:
                await client.get("http://platform.test/config", purpose=Purpose.REGISTRATION)

    assert caught.value.reason == "the server sent no valid HTTP response"


# --- What every request carries ---


async def test_user_agent_and_accept_are_sent_on_every_hop(platform: ScriptedPlatform, client: GuardedClient) -> None:
    platform.get("https://platform.test/config").respond(302, headers={"Location": "https://other.test/config"})
    platform.get("https://other.test/config").respond(200, json={})

    await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION, headers={"User-Agent": "spoofed"})

    assert len(platform.calls) == 2
    for call in platform.calls:
        assert call.headers["user-agent"] == USER_AGENT
        assert call.headers["accept"] == "application/json"


async def test_a_callers_accept_header_is_kept(platform: ScriptedPlatform, client: GuardedClient) -> None:
    route = platform.post("https://platform.test/token").respond(200, json={})

    await client.post_form(
        "https://platform.test/token", {"grant_type": "x"}, purpose=Purpose.SERVICE_TOKENS, headers={"Accept": "*/*"}
    )

    sent = route.calls[-1]
    assert sent.headers["accept"] == "*/*"
    assert sent.content == b"grant_type=x"


async def test_cookies_are_never_carried_between_calls(platform: ScriptedPlatform, client: GuardedClient) -> None:
    route = platform.get("https://platform.test/config").respond(
        200, json={}, headers={"Set-Cookie": "session=tenant-a; Path=/"}
    )

    await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)
    await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)

    assert "cookie" not in route.calls[-1].headers


def test_a_user_agent_is_required_of_the_client_and_the_poster_alike() -> None:
    with pytest.raises(ValueError, match="user_agent"):
        OutboundOptions(user_agent=" ")


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "gopher://platform.test:70/_",
        "data:application/json,{}",
        "ftp://platform.test/x",
        "javascript:alert(1)",
        "http://[::1",
        "https://xn--/x",
    ],
)
async def test_a_redirect_to_another_scheme_or_a_malformed_url_is_refused(
    platform: ScriptedPlatform, client: GuardedClient, location: str
) -> None:
    platform.get("https://platform.test/start").respond(302, headers={"Location": location})

    with pytest.raises(UnsafeURLError) as caught:
        await client.get("https://platform.test/start", purpose=Purpose.REGISTRATION)

    assert "redirect" in caught.value.reason
    assert len(platform.calls) == 1
