"""The guarded client: redirects, size and time bounds, and what every request carries."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from broker.http_client import (
    GuardedClient,
    OutboundConnectionError,
    OutboundTimeoutError,
    Purpose,
    ResponseTooLargeError,
    TooManyRedirectsError,
    UnsafeURLError,
)
from tests.broker.http_client.support import (
    USER_AGENT,
    mocked_client,
)

# --- Redirects ---


async def test_a_redirect_to_a_blocked_address_is_refused(router: respx.Router, client: GuardedClient) -> None:
    router.get("https://platform.test/config").respond(
        302, headers={"Location": "https://169.254.169.254/latest/meta-data/"}
    )
    metadata = router.get("https://169.254.169.254/latest/meta-data/").respond(200, text="secrets")

    with pytest.raises(UnsafeURLError):
        await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)

    assert not metadata.called


async def test_a_redirect_to_plain_http_is_refused(router: respx.Router, client: GuardedClient) -> None:
    router.get("https://platform.test/config").respond(301, headers={"Location": "http://platform.test/config"})
    plain = router.get("http://platform.test/config").respond(200, json={})

    with pytest.raises(UnsafeURLError):
        await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)

    assert not plain.called


def redirect_chain(router: respx.Router, hops: int) -> None:
    for index in range(hops):
        router.get(f"https://platform.test/hop/{index}").respond(302, headers={"Location": f"/hop/{index + 1}"})
    router.get(f"https://platform.test/hop/{hops}").respond(200, json={"hops": hops})


async def test_follows_up_to_the_redirect_limit(router: respx.Router, client: GuardedClient) -> None:
    redirect_chain(router, hops=3)

    response = await client.get("https://platform.test/hop/0", purpose=Purpose.REGISTRATION)

    assert response.json() == {"hops": 3}
    assert response.url == "https://platform.test/hop/3"


async def test_one_redirect_past_the_limit_fails(router: respx.Router, client: GuardedClient) -> None:
    redirect_chain(router, hops=4)

    with pytest.raises(TooManyRedirectsError):
        await client.get("https://platform.test/hop/0", purpose=Purpose.REGISTRATION)

    assert len(router.calls) == 4


async def test_redirect_limit_is_configurable(router: respx.Router) -> None:
    redirect_chain(router, hops=1)

    async with mocked_client(router, max_redirects=0) as client:
        with pytest.raises(TooManyRedirectsError):
            await client.get("https://platform.test/hop/0", purpose=Purpose.REGISTRATION)


async def test_authorization_is_not_forwarded_to_another_origin(router: respx.Router, client: GuardedClient) -> None:
    router.get("https://platform.test/token").respond(302, headers={"Location": "https://other.test/token"})
    other = router.get("https://other.test/token").respond(200, json={})

    await client.get(
        "https://platform.test/token", purpose=Purpose.REGISTRATION, headers={"Authorization": "Bearer reg-token"}
    )

    assert other.called
    assert "authorization" not in other.calls.last.request.headers


async def test_authorization_is_kept_on_a_same_origin_redirect(router: respx.Router, client: GuardedClient) -> None:
    router.get("https://platform.test/token").respond(302, headers={"Location": "/token/v2"})
    moved = router.get("https://platform.test/token/v2").respond(200, json={})

    await client.get(
        "https://platform.test/token", purpose=Purpose.REGISTRATION, headers={"Authorization": "Bearer reg-token"}
    )

    assert moved.calls.last.request.headers["authorization"] == "Bearer reg-token"


async def test_a_post_does_not_follow_redirects_by_default(router: respx.Router, client: GuardedClient) -> None:
    router.post("https://platform.test/register").respond(307, headers={"Location": "https://other.test/x"})
    other = router.route(host="other.test").respond(201, json={})

    response = await client.post_json(
        "https://platform.test/register", {"client_name": "Tool"}, purpose=Purpose.REGISTRATION
    )

    assert response.status_code == 307
    assert not other.called


async def test_a_307_resends_the_post_body_when_following(router: respx.Router, client: GuardedClient) -> None:
    router.post("https://platform.test/register").respond(307, headers={"Location": "/register/v2"})
    moved = router.post("https://platform.test/register/v2").respond(201, json={"client_id": "abc"})

    response = await client.request(
        "POST",
        "https://platform.test/register",
        purpose=Purpose.REGISTRATION,
        json={"client_name": "Tool"},
        follow_redirects=True,
    )

    assert response.status_code == 201
    assert json.loads(moved.calls.last.request.content) == {"client_name": "Tool"}


async def test_a_303_becomes_a_get_without_the_body(router: respx.Router, client: GuardedClient) -> None:
    router.post("https://platform.test/register").respond(303, headers={"Location": "/done"})
    done = router.get("https://platform.test/done").respond(200, json={})

    await client.request(
        "POST", "https://platform.test/register", purpose=Purpose.REGISTRATION, json={"a": 1}, follow_redirects=True
    )

    sent = done.calls.last.request
    assert sent.content == b""
    assert "content-type" not in sent.headers


# --- Response size ---


class CountingStream(httpx.AsyncByteStream):
    """A body of `chunks` chunks of `size` bytes that records how much of it was read."""

    def __init__(self, chunks: int, size: int) -> None:
        self.chunks = chunks
        self.size = size
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.sent += 1
            yield b"x" * self.size


async def test_a_declared_content_length_over_the_cap_is_refused_unread(router: respx.Router) -> None:
    body = CountingStream(chunks=10, size=1000)
    router.get("https://platform.test/jwks").respond(200, headers={"Content-Length": "10000"}, stream=body)

    async with mocked_client(router, max_response_bytes=5000) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.get("https://platform.test/jwks", purpose=Purpose.REGISTRATION)

    assert body.sent == 0


async def test_a_streamed_body_over_the_cap_is_cut_off(router: respx.Router) -> None:
    body = CountingStream(chunks=100, size=1000)
    router.get("https://platform.test/jwks").respond(200, stream=body)

    async with mocked_client(router, max_response_bytes=5000) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.get("https://platform.test/jwks", purpose=Purpose.REGISTRATION)

    assert body.sent <= 6


async def test_a_body_exactly_at_the_cap_is_accepted(router: respx.Router) -> None:
    router.get("https://platform.test/jwks").respond(200, stream=CountingStream(chunks=5, size=1000))

    async with mocked_client(router, max_response_bytes=5000) as client:
        response = await client.get("https://platform.test/jwks", purpose=Purpose.REGISTRATION)

    assert len(response.content) == 5000


# --- Timeouts and connection failures ---


async def test_the_total_timeout_covers_the_whole_redirect_chain(router: respx.Router) -> None:
    hops: list[str] = []

    async def slow_hop(request: httpx.Request) -> httpx.Response:
        hops.append(request.url.path)
        await asyncio.sleep(0.15)
        step = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(302, headers={"Location": f"/hop/{step + 1}"})

    router.route(host="platform.test").mock(side_effect=slow_hop)

    # No single hop comes near the connect or read timeout; only the total can stop the chain.
    async with mocked_client(router, total_timeout=0.4) as client:
        started = time.monotonic()
        with pytest.raises(OutboundTimeoutError) as caught:
            await client.get("https://platform.test/hop/0", purpose=Purpose.REGISTRATION)

    assert time.monotonic() - started < 1.0
    assert len(hops) >= 2
    assert "0.4 s" in caught.value.reason


@pytest.mark.parametrize("error", [httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow")])
async def test_transport_timeouts_are_timeout_errors(
    router: respx.Router, client: GuardedClient, error: Exception
) -> None:
    router.get("https://platform.test/config").mock(side_effect=error)

    with pytest.raises(OutboundTimeoutError):
        await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError("Connection refused"), "Connection refused"),
        (httpx.RemoteProtocolError("illegal status line"), "no valid HTTP response"),
    ],
)
async def test_transport_failures_are_connection_errors(
    router: respx.Router, client: GuardedClient, error: Exception, expected: str
) -> None:
    router.get("https://platform.test/config").mock(side_effect=error)

    with pytest.raises(OutboundConnectionError) as caught:
        await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)

    assert expected in caught.value.reason


# --- What every request carries ---


async def test_user_agent_and_accept_are_sent_on_every_hop(router: respx.Router, client: GuardedClient) -> None:
    router.get("https://platform.test/config").respond(302, headers={"Location": "https://other.test/config"})
    router.get("https://other.test/config").respond(200, json={})

    await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION, headers={"User-Agent": "spoofed"})

    assert len(router.calls) == 2
    for call in router.calls:
        assert call.request.headers["user-agent"] == USER_AGENT
        assert call.request.headers["accept"] == "application/json"


async def test_a_callers_accept_header_is_kept(router: respx.Router, client: GuardedClient) -> None:
    route = router.post("https://platform.test/token").respond(200, json={})

    await client.post_form(
        "https://platform.test/token", {"grant_type": "x"}, purpose=Purpose.SERVICE_TOKENS, headers={"Accept": "*/*"}
    )

    sent = route.calls.last.request
    assert sent.headers["accept"] == "*/*"
    assert sent.content == b"grant_type=x"


async def test_cookies_are_never_carried_between_calls(router: respx.Router, client: GuardedClient) -> None:
    route = router.get("https://platform.test/config").respond(
        200, json={}, headers={"Set-Cookie": "session=tenant-a; Path=/"}
    )

    await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)
    await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)

    assert "cookie" not in route.calls.last.request.headers


def test_a_user_agent_is_required() -> None:
    with pytest.raises(ValueError, match="user_agent"):
        GuardedClient(user_agent=" ")


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
    router: respx.Router, client: GuardedClient, location: str
) -> None:
    router.get("https://platform.test/start").respond(302, headers={"Location": location})

    with pytest.raises(UnsafeURLError) as caught:
        await client.get("https://platform.test/start", purpose=Purpose.REGISTRATION)

    assert "redirect" in caught.value.reason
    assert len(router.calls) == 1
