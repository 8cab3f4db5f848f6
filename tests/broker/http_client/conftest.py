"""Fixtures for the guarded client's tests: a respx router, a client over it, a loopback platform."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import respx

from broker.http_client import (
    GuardedClient,
)
from tests.broker.http_client.support import (
    LiveServer,
    mocked_client,
    serving,
)


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(assert_all_called=False)


@pytest.fixture
async def client(router: respx.Router) -> AsyncIterator[GuardedClient]:
    async with mocked_client(router) as guarded:
        yield guarded


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    with serving([]) as server:
        yield server
