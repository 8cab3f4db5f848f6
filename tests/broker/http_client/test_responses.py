"""Reading an answer's body as text or JSON."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from broker.http_client import (
    InvalidJSONError,
    OutboundResponse,
)
from broker.http_client.responses import answer_headers

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


# --- Response headers ---

_NAMES = st.sampled_from(
    [b"Content-Type", b"content-type", b"CONTENT-TYPE", b"Location", b"Cache-Control", b"X-\xc3\xa9"]
)
_BYTES = [b"a", b"B", b" ", b",", b";", b"=", b"\xc3\xa9", b"\xff", b"\x7f"]
_VALUES = st.lists(st.sampled_from(_BYTES), max_size=5).map(b"".join)


def _as_aiohttp_parses(raw: list[tuple[bytes, bytes]]) -> CIMultiDictProxy[str]:
    """The decoded headers aiohttp makes of the bytes (as its parser: UTF-8, anything else escaped)."""
    decoded = CIMultiDict[str]()
    for name, value in raw:
        decoded.add(name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
    return CIMultiDictProxy(decoded)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=5))
def test_answer_headers_read_as_httpx_reads_them(raw: list[tuple[bytes, bytes]]) -> None:
    read, expected = answer_headers(_as_aiohttp_parses(raw), tuple(raw)), httpx.Headers(raw)
    for name in ("content-type", "Content-Type", "LOCATION", "cache-control", "x-none"):
        assert read.get(name) == expected.get(name)
        assert read.get(name, "none") == expected.get(name, "none")
        assert (name in read) == (name in expected)
        if name in expected:
            assert read[name] == expected[name]
