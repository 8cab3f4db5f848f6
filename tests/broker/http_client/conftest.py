"""Fixtures for the outbound clients' tests: a respx router, a client over it, a loopback platform, a TLS one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import respx

from broker.http_client import (
    GuardedClient,
)
from tests.broker.http_client.support import (
    LiveServer,
    Pki,
    make_pki,
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


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA and a certificate for platform.test only (not for 127.0.0.1)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(pki: Pki) -> Iterator[LiveServer]:
    with serving([], cert_file=pki.cert_file, key_file=pki.key_file) as server:
        yield server
