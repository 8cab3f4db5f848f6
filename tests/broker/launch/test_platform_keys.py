"""The platform key cache: Cache-Control freshness within bounds, one refetch a minute for unknown kids,
stale keys while the platform's key endpoint is down, and no fetch storm after a failure."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import Response

from broker.launch.platform_keys import (
    DEFAULT_MAX_AGE,
    FAILURE_BACKOFF,
    MAX_MAX_AGE,
    MIN_REFETCH_INTERVAL,
    PlatformKeys,
    PlatformKeysError,
    freshness,
    parse_key_set,
)
from tests.broker.http_client.support import ScriptedPlatform, make_pki, scripted_platform
from tests.broker.launch.helpers import new_key
from tests.clock import Clock

JWKS_URI = "https://platform.test/jwks"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, DEFAULT_MAX_AGE),
        ("public, max-age=900", 900),
        ('max-age="1200"', 1200),
        ("max-age=5", MIN_REFETCH_INTERVAL),
        ("max-age=99999999", MAX_MAX_AGE),
        ("no-store", MIN_REFETCH_INTERVAL),
        ("private, no-cache, max-age=900", MIN_REFETCH_INTERVAL),
        ("max-age=soon", DEFAULT_MAX_AGE),
        # Not HTTP's ASCII digits, though str.isdigit() takes them: "²" (float() refuses it) and "٩٠٠".
        ("max-age=\u00b2", DEFAULT_MAX_AGE),
        ("max-age=\u0669\u0660\u0660", DEFAULT_MAX_AGE),
        ("max-age=" + "9" * 400, MAX_MAX_AGE),
    ],
)
def test_freshness_follows_cache_control_within_bounds(header: str | None, seconds: float) -> None:
    assert freshness(header) == seconds


@given(st.text())
def test_any_cache_control_gives_a_freshness_within_bounds(header: str) -> None:
    assert MIN_REFETCH_INTERVAL <= freshness(header) <= MAX_MAX_AGE


def test_keys_joserfc_cannot_read_are_skipped() -> None:
    good = new_key("good").as_dict(private=False)
    key_set = parse_key_set({"keys": [{"kty": "nonsense", "kid": "bad"}, "not a key", good]})
    assert [key.kid for key in key_set] == ["good"]


@pytest.mark.parametrize("document", [[], {"keys": "x"}, {"keys": []}, {"keys": [{"kty": "nonsense"}]}])
def test_a_document_without_usable_keys_is_refused(document: object) -> None:
    with pytest.raises(PlatformKeysError):
        parse_key_set(document)


class Platform:
    """A JWKS endpoint whose keys, headers and availability a test changes between calls."""

    def __init__(self) -> None:
        self.key = new_key("k1")
        self.status = 200
        self.cache_control = "max-age=300"
        self.calls = 0

    def rotate(self) -> None:
        self.key = new_key(f"k{self.calls + 2}")

    async def handler(self, request: Request) -> Response:
        self.calls += 1
        body = json.dumps({"keys": [self.key.as_dict(private=False)]})
        headers = {"cache-control": self.cache_control}
        return Response(body, status_code=self.status, headers=headers, media_type="application/json")


@pytest.fixture(scope="module")
def platform_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptedPlatform]:
    """https://platform.test, on a public address as far as the client's checks know, served from loopback."""
    with scripted_platform(make_pki(tmp_path_factory.mktemp("pki"))) as server:
        yield server


@pytest.fixture
def platform(platform_server: ScriptedPlatform) -> Iterator[Platform]:
    platform = Platform()
    platform_server.reset()
    platform_server.get(JWKS_URI).mock(platform.handler)
    yield platform
    platform_server.reset()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def keys(platform_server: ScriptedPlatform, platform: Platform, clock: Clock) -> AsyncIterator[PlatformKeys]:
    async with platform_server.client() as client:
        yield PlatformKeys(client, clock=clock)


def kids(key_set: KeySet) -> list[str]:
    return [key.kid for key in key_set]


async def test_a_key_set_is_served_from_memory_until_it_goes_stale(
    keys: PlatformKeys, platform: Platform, clock: Clock
) -> None:
    first = await keys.get(JWKS_URI)
    clock.now += 299
    assert await keys.get(JWKS_URI) is first
    clock.now += 2
    await keys.get(JWKS_URI)
    assert platform.calls == 2


async def test_an_unknown_kid_refetches_at_most_once_a_minute(
    keys: PlatformKeys, platform: Platform, clock: Clock
) -> None:
    seen = await keys.get(JWKS_URI)
    platform.rotate()
    newer = await keys.refresh(JWKS_URI, seen)
    assert newer is not None and kids(newer) == ["k3"]
    clock.now += MIN_REFETCH_INTERVAL - 1
    assert await keys.refresh(JWKS_URI, newer) is None
    assert platform.calls == 2
    clock.now += 1
    again = await keys.refresh(JWKS_URI, newer)
    assert again is not None and kids(again) == ["k3"]
    assert platform.calls == 3


async def test_a_refresh_after_another_launch_refetched_uses_its_result(keys: PlatformKeys, platform: Platform) -> None:
    seen = await keys.get(JWKS_URI)
    platform.rotate()
    newer = await keys.refresh(JWKS_URI, seen)
    assert await keys.refresh(JWKS_URI, seen) is newer
    assert platform.calls == 2


async def test_stale_keys_serve_while_the_endpoint_is_down_and_failures_are_not_retried_at_once(
    keys: PlatformKeys, platform: Platform, clock: Clock
) -> None:
    first = await keys.get(JWKS_URI)
    platform.status = 503
    clock.now += 400
    assert await keys.get(JWKS_URI) is first
    assert await keys.get(JWKS_URI) is first
    assert platform.calls == 2, "the failure is remembered for a while"
    clock.now += FAILURE_BACKOFF
    platform.status = 200
    assert await keys.get(JWKS_URI) is not first


async def test_no_keys_at_all_is_an_error_that_names_the_answer(keys: PlatformKeys, platform: Platform) -> None:
    platform.status = 404
    with pytest.raises(PlatformKeysError, match="HTTP 404"):
        await keys.get(JWKS_URI)
