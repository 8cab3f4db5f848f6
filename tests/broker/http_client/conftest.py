"""Fixtures for the outbound clients' tests: a scripted platform and a client of it, loopback platforms, a TLS one."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator

import pytest

from broker.http_client import GuardedClient, OutboundOptions
from tests.broker.http_client.support import (
    USER_AGENT,
    FakeDNS,
    LiveServer,
    Pki,
    ScriptedPlatform,
    make_pki,
    scripted_platform,
    serving,
)


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    with serving([]) as server:
        yield server


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA and a certificate for platform.test and other.test only (not for 127.0.0.1)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(pki: Pki) -> Iterator[LiveServer]:
    with serving([], cert_file=pki.cert_file, key_file=pki.key_file) as server:
        yield server


@pytest.fixture(scope="module")
def tls_options(pki: Pki) -> OutboundOptions:
    """Options of a client or poster that reaches tls_server as https://platform.test, trusting the test CA."""
    trusting = ssl.create_default_context(cadata=pki.ca_pem.decode())
    dns = FakeDNS({"platform.test": ["127.0.0.1"]})
    return OutboundOptions(user_agent=USER_AGENT, allow_insecure=True, resolver=dns, ssl_context=trusting)


@pytest.fixture(scope="module")
def platform_server(pki: Pki) -> Iterator[ScriptedPlatform]:
    with scripted_platform(pki) as platform:
        yield platform


@pytest.fixture
def platform(platform_server: ScriptedPlatform) -> Iterator[ScriptedPlatform]:
    """The scripted platform with nothing scripted yet: https://platform.test, https://other.test and any other
    name that resolves, all served from loopback."""
    platform_server.reset()
    yield platform_server
    platform_server.reset()


@pytest.fixture
async def client(platform: ScriptedPlatform) -> AsyncIterator[GuardedClient]:
    async with platform.client() as guarded:
        yield guarded
