"""Security headers and the request id: which responses get which, and the app's own messages left as they were."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from broker.middleware import BrokerMiddleware
from broker.security_headers import security_headers


def _names(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    return {name for name, _ in headers}


def test_pages_outside_the_lms_refuse_framing() -> None:
    headers = security_headers("/api/v1/registrations", [(b"content-type", b"application/json")])
    assert (b"x-frame-options", b"DENY") in headers
    assert (b"content-security-policy", b"frame-ancestors 'none'") in headers
    assert (b"x-content-type-options", b"nosniff") in headers


def test_a_page_with_its_own_policy_keeps_it() -> None:
    own = [(b"content-security-policy", b"default-src 'self'")]
    headers = security_headers("/no/such/page", own)
    assert [value for name, value in headers if name == b"content-security-policy"] == [b"default-src 'self'"]


def test_registration_and_launch_pages_may_be_framed() -> None:
    headers = security_headers("/t/acme/lti/register", [])
    assert b"x-frame-options" not in _names(headers)
    assert b"content-security-policy" not in _names(headers)
    assert (b"referrer-policy", b"no-referrer") in headers


def test_key_sets_get_nosniff_only_on_the_base_host_and_on_tenant_hosts() -> None:
    for path in ("/t/acme/.well-known/jwks.json", "/.well-known/jwks.json"):
        headers = security_headers(path, [(b"content-type", b"application/json")])
        assert headers == [(b"content-type", b"application/json"), (b"x-content-type-options", b"nosniff")]


def test_headers_added_after_the_security_headers_come_last() -> None:
    added = (b"x-request-id", b"0123456789abcdef")
    for path in ("/t/acme/.well-known/jwks.json", "/t/acme/lti/launch", "/api/v1/registrations"):
        assert security_headers(path, [], added)[-1] == added


async def test_a_reused_response_message_is_not_altered() -> None:
    own_headers = [(b"content-type", b"application/json")]
    start: Message = {"type": "http.response.start", "status": 200, "headers": own_headers}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start)
        await send({"type": "http.response.body", "body": b"{}"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    middleware = BrokerMiddleware(app)
    for _ in range(2):
        await middleware({"type": "http", "method": "GET", "path": "/healthz", "headers": []}, receive, send)
    assert start["headers"] is own_headers and own_headers == [(b"content-type", b"application/json")]
    first, second = dict(sent[0]["headers"]), dict(sent[2]["headers"])
    assert first[b"x-frame-options"] == second[b"x-frame-options"] == b"DENY"
    assert first[b"x-request-id"] != second[b"x-request-id"], "each request its own id"
    assert first[b"content-type"] == b"application/json"
