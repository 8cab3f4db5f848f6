"""Reading an answer's body: one content coding at most, decoded a piece at a time under the cap."""

from __future__ import annotations

import contextlib
import gzip
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.http_client import (
    GuardedClient,
    OutboundConnectionError,
    OutboundOptions,
    Purpose,
    ResponseTooLargeError,
)
from tests.broker.http_client.support import (
    PLATFORM_DNS,
    USER_AGENT,
    FakeDNS,
    LoopbackTransport,
    ScriptedPlatform,
    chunked,
    raw_server,
)

URL = "https://platform.test/.well-known/openid-configuration"
MiB = 1 << 20

# 1,513 bytes: gzip inside gzip of 830 MiB of zeros (made with zlib at level 9, twice). Served as
# "Content-Encoding: gzip, gzip" it took the process from 92 MB to 925 MB before the cap was checked.
GZIP_IN_GZIP_BOMB = (Path(__file__).parent / "fixtures" / "gzip-in-gzip-bomb.bin").read_bytes()


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The most memory Python allocated inside the block, in bytes (in the list once the block ends)."""
    peak = [0]
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Encoding", "gzip, gzip")],
        [("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")],
        [("Content-Encoding", "deflate, gzip")],
    ],
    ids=["one-header", "two-headers", "mixed"],
)
async def test_stacked_codings_are_refused_before_anything_is_decoded(
    platform: ScriptedPlatform, client: GuardedClient, headers: list[tuple[str, str]]
) -> None:
    platform.get(URL).respond(
        200, headers=[*headers, ("Content-Type", "application/json")], chunks=chunked(GZIP_IN_GZIP_BOMB)
    )

    with peak_memory() as peak, pytest.raises(OutboundConnectionError) as caught:
        await client.get(URL, purpose=Purpose.REGISTRATION)

    assert "encoded more than once" in caught.value.reason
    assert peak[0] < 16 * MiB


async def test_a_single_gzip_bomb_is_cut_off_at_the_cap_without_decoding_the_rest(
    platform: ScriptedPlatform, client: GuardedClient
) -> None:
    # One layer of the bomb: 846 KB on the wire (under the cap), 830 MiB once decoded.
    bomb = zlib.decompress(GZIP_IN_GZIP_BOMB, wbits=zlib.MAX_WBITS | 16)
    platform.get(URL).respond(200, headers={"Content-Encoding": "gzip"}, chunks=chunked(bomb))

    with peak_memory() as peak, pytest.raises(ResponseTooLargeError):
        await client.get(URL, purpose=Purpose.REGISTRATION)

    assert peak[0] < 16 * MiB


def deflate(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(wbits=wbits)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("coding", "encoded"),
    [
        ("gzip", gzip.compress(b'{"issuer": "https://platform.test"}')),
        ("x-gzip", gzip.compress(b'{"issuer": "https://platform.test"}')),
        ("deflate", deflate(b'{"issuer": "https://platform.test"}', zlib.MAX_WBITS)),
        ("deflate", deflate(b'{"issuer": "https://platform.test"}', -zlib.MAX_WBITS)),
        ("identity", b'{"issuer": "https://platform.test"}'),
        ("gzip, identity", gzip.compress(b'{"issuer": "https://platform.test"}')),
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "identity", "gzip-identity"],
)
async def test_one_coding_is_decoded(
    platform: ScriptedPlatform, client: GuardedClient, coding: str, encoded: bytes
) -> None:
    platform.get(URL).respond(
        200, headers={"Content-Encoding": coding, "Content-Type": "application/json"}, chunks=chunked(encoded)
    )

    response = await client.get(URL, purpose=Purpose.REGISTRATION)

    assert response.json() == {"issuer": "https://platform.test"}


async def test_the_cap_counts_decoded_bytes(platform: ScriptedPlatform) -> None:
    platform.get("https://platform.test/at-cap").respond(
        200, headers={"Content-Encoding": "gzip"}, chunks=chunked(gzip.compress(b"x" * 5000))
    )
    platform.get("https://platform.test/over").respond(
        200, headers={"Content-Encoding": "gzip"}, chunks=chunked(gzip.compress(b"x" * 5001))
    )

    async with platform.client(max_response_bytes=5000) as client:
        at_cap = await client.get("https://platform.test/at-cap", purpose=Purpose.REGISTRATION)
        with pytest.raises(ResponseTooLargeError):
            await client.get("https://platform.test/over", purpose=Purpose.REGISTRATION)

    assert at_cap.content == b"x" * 5000


@pytest.mark.parametrize(
    ("coding", "encoded", "reason"),
    [
        ("br", b"\x1b\x00\x00", "does not accept: br"),
        ("compress", b"\x1f\x9d", "does not accept: compress"),
        ("gzip", b"\x1f\x8b\x08\x00not gzip at all", "could not be decoded"),
        ("gzip", gzip.compress(b"{}") + gzip.compress(b"[]"), "could not be decoded"),
        ("gzip", gzip.compress(b"{}") + b"trailing", "could not be decoded"),
    ],
    ids=["brotli", "compress", "corrupt", "two-members", "trailing-bytes"],
)
async def test_unknown_codings_and_broken_bodies_are_clear_errors(
    platform: ScriptedPlatform, client: GuardedClient, coding: str, encoded: bytes, reason: str
) -> None:
    platform.get(URL).respond(200, headers={"Content-Encoding": coding}, chunks=chunked(encoded))

    with pytest.raises(OutboundConnectionError) as caught:
        await client.get(URL, purpose=Purpose.REGISTRATION)

    assert reason in caught.value.reason


async def test_only_the_codings_it_decodes_are_asked_for(platform: ScriptedPlatform, client: GuardedClient) -> None:
    route = platform.get(URL).respond(200, json={})

    await client.get(URL, purpose=Purpose.REGISTRATION, headers={"Accept-Encoding": "br, zstd"})

    assert route.calls[-1].headers["accept-encoding"] == "gzip, deflate"


# --- An answer whose Content-Length is within the cap (read whole, without the piece-by-piece cap) ---


async def _get_raw(answer: bytes, *, max_response_bytes: int = 5000) -> bytes:
    async with raw_server(answer) as port:
        options = OutboundOptions(
            user_agent=USER_AGENT,
            allow_insecure=True,
            resolver=FakeDNS(PLATFORM_DNS),
            max_response_bytes=max_response_bytes,
        )
        async with GuardedClient(options, transport=LoopbackTransport(port)) as client:
            response = await client.get("http://platform.test/config", purpose=Purpose.REGISTRATION)
    return response.content


async def test_a_short_content_length_is_all_that_is_read_of_a_longer_body() -> None:
    try:
        content = await _get_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + b"x" * (3 * MiB))
    except OutboundConnectionError:  # the rest taken for a broken next answer
        return
    assert content == b"xxxxx"


async def test_a_content_length_beside_a_chunked_body_does_not_let_the_body_past_the_cap() -> None:
    body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in [b"x" * 4000] * 3) + b"0\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n" + body

    try:
        content = await _get_raw(answer)
    except (OutboundConnectionError, ResponseTooLargeError):
        return
    assert len(content) <= 5000


async def test_a_compressed_answer_with_a_content_length_is_decoded_under_the_cap() -> None:
    small, large = gzip.compress(b"x" * 5000), gzip.compress(b"x" * 5001)

    content = await _get_raw(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(small), small)
    )
    with pytest.raises(ResponseTooLargeError):
        await _get_raw(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(large), large)
        )

    assert content == b"x" * 5000


async def test_a_content_length_over_the_cap_is_refused_before_the_body_is_read() -> None:
    with pytest.raises(ResponseTooLargeError):
        await _get_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5001\r\n\r\n" + b"x" * 5001)


async def test_an_answer_without_a_content_length_is_still_capped_as_it_is_read() -> None:
    with pytest.raises(ResponseTooLargeError):
        await _get_raw(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 5001)
