"""Reading an answer's body: one content coding at most, decoded a piece at a time under the cap."""

from __future__ import annotations

import contextlib
import gzip
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.http_client import GuardedClient, OutboundConnectionError, Purpose, ResponseTooLargeError
from tests.broker.http_client.support import ScriptedPlatform, chunked

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
