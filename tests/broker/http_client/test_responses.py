"""Reading an answer's body as text or JSON."""

from __future__ import annotations

import httpx
import pytest

from broker.http_client import (
    InvalidJSONError,
    OutboundResponse,
)

# --- Response content ---


def response(content: bytes, content_type: str | None) -> OutboundResponse:
    headers = httpx.Headers({"Content-Type": content_type} if content_type else {})
    return OutboundResponse("https://platform.test/x?token=t", 200, headers, content)


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "application/jwk-set+json"],
)
def test_json_accepts_json_media_types(content_type: str | None) -> None:
    assert response(b'{"keys": []}', content_type).json() == {"keys": []}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"<html>Sign in</html>", "text/html"),
        (b'{"keys": []}', "text/html; charset=utf-8"),
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"\xff\xfe\x00", None),
    ],
)
def test_json_refuses_anything_else(content: bytes, content_type: str | None) -> None:
    with pytest.raises(InvalidJSONError) as caught:
        response(content, content_type).json()

    assert caught.value.url == "https://platform.test/x"


def test_text_uses_the_declared_charset_and_replaces_bad_bytes() -> None:
    assert response("café".encode("latin-1"), "text/plain; charset=iso-8859-1").text == "café"
    assert response(b"caf\xe9", "text/plain").text == "caf\ufffd"
    assert response(b"ok", "text/plain; charset=no-such-charset").text == "ok"


def test_is_success_is_2xx_only() -> None:
    statuses = {200: True, 204: True, 299: True, 199: False, 301: False, 404: False, 500: False}
    for status, success in statuses.items():
        assert OutboundResponse("https://p.test/", status, httpx.Headers(), b"").is_success is success


@pytest.mark.parametrize(
    "content",
    [b"[" * 1500 + b"]" * 1500, b'{"keys": ' + b"[" * 100 + b"]" * 100 + b"}", b'{"exp": NaN}', b"Infinity"],
    ids=["recursion", "deep-member", "nan", "infinity"],
)
def test_json_refuses_hostile_documents_as_invalid_json(content: bytes) -> None:
    with pytest.raises(InvalidJSONError):
        response(content, "application/json").json()
