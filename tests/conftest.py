"""Shared fixtures: a migrated database per engine, the broker served over loopback, and tenants.

Every test that touches the database runs once per engine: SQLite always, and PostgreSQL as well when
BROKER_TEST_DATABASE_URL points at a server (each run creates and drops its own uniquely named database).
Session fixtures belong to one pytest process: under pytest-xdist every worker has its own SQLite file (in its
own temporary directory), its own PostgreSQL database and its own broker servers on ports of their own.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from broker.app import create_app, create_services
from broker.migrate import upgrade
from broker.services import Services
from broker.settings import Settings
from tenants.services import CreatedTenant
from tests.emulators.server import LoopbackServer, base_url_of, bind_loopback

POSTGRES_URL = os.environ.get("BROKER_TEST_DATABASE_URL", "").strip()
ENGINES = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]
# Limit stores: the database always, and Redis as well when BROKER_TEST_REDIS_URL points at a server.
REDIS_URL = os.environ.get("BROKER_TEST_REDIS_URL", "").strip()
LIMIT_STORES = ["database", "redis"] if REDIS_URL else ["database"]
TEST_SECRET_KEY = "test-secret-key-" + "x" * 40
# Tenants of the host-mode broker live at <slug>.lti.localhost; names under .localhost are loopback (RFC 6761),
# which Chromium knows and this process is taught by `loopback_localhost`.
TENANT_DOMAIN = "lti.localhost"


def _create_postgres_database(admin_url: str) -> tuple[str, str]:
    name = f"broker_test_{secrets.token_hex(6)}"
    url = make_url(admin_url).set(drivername="postgresql+psycopg")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def _drop_postgres_database(admin_url: str, name: str) -> None:
    engine = create_engine(make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


@pytest.fixture(scope="session", params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database; tests share it and isolate themselves by tenant."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'broker.db'}"
        upgrade(url)
        yield url
        return
    yield from migrated_postgres_database()


def migrated_postgres_database() -> Iterator[str]:
    """A new PostgreSQL database at the head of the migrations, dropped afterwards."""
    url, name = _create_postgres_database(POSTGRES_URL)
    try:
        upgrade(url)
        yield url
    finally:
        _drop_postgres_database(POSTGRES_URL, name)


# How long the brokers under test wait for a platform or a receiver: long, because the emulators run in the test
# process and a loaded host can stall it for seconds. The tests of a platform that answers too late use a broker
# (`impatient_broker`) or a worker that waits SHORT_OUTBOUND_TIMEOUT.
OUTBOUND_TIMEOUT = 10.0
SHORT_OUTBOUND_TIMEOUT = 1.0


def make_settings(database_url: str, base_url: str, **overrides: object) -> Settings:
    settings = Settings(
        database_url=database_url,
        base_url=base_url,
        secret_key=TEST_SECRET_KEY,
        allow_insecure_platforms=True,
        outbound_timeout=OUTBOUND_TIMEOUT,
        # Webhook tests drive the delivery worker themselves; one test serves a broker with it on.
        run_worker=False,
        # Every test calls from 127.0.0.1 into one database; the tests of the limits set their own.
        public_rate_limit=1_000_000,
        tenant_rate_limit=1_000_000,
        registration_fetch_limit=1_000_000,
        registration_fetch_concurrency=(1_000, 1_000),
    )
    return replace(settings, **overrides)


@dataclass
class RunningBroker:
    base_url: str
    settings: Settings
    app: Starlette | None = None  # the application object, for tests that look at its state

    def url(self, path: str) -> str:
        return self.base_url + path


def _serve_broker(database_url: str, **overrides: object) -> Iterator[RunningBroker]:
    sock = bind_loopback()
    settings = make_settings(database_url, base_url_of(sock), **overrides)
    app = create_app(settings)
    with LoopbackServer(app, sock, lifespan="on"):
        yield RunningBroker(settings.base_url, settings, app)


@pytest.fixture(scope="session")
def broker(database_url: str) -> Iterator[RunningBroker]:
    """The broker over real loopback HTTP, in insecure mode so that loopback platforms are allowed."""
    yield from _serve_broker(database_url)


@pytest.fixture(scope="session")
def impatient_broker(database_url: str) -> Iterator[RunningBroker]:
    """The broker waiting SHORT_OUTBOUND_TIMEOUT for a platform, for the tests of one that answers too late."""
    yield from _serve_broker(database_url, outbound_timeout=SHORT_OUTBOUND_TIMEOUT)


@pytest.fixture(scope="session")
def strict_broker(database_url: str) -> Iterator[RunningBroker]:
    """The broker as in production: https only, private and loopback addresses refused."""
    yield from _serve_broker(database_url, allow_insecure_platforms=False)


@contextmanager
def loopback_localhost() -> Iterator[None]:
    """Names under .localhost resolve to 127.0.0.1 in this process (the system resolver does not know them)."""
    system = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".").endswith(".localhost"):
            host = "127.0.0.1"
        return system(host, *args, **kwargs)

    socket.getaddrinfo = resolve
    try:
        yield
    finally:
        socket.getaddrinfo = system


@pytest.fixture(scope="session")
def hosts_broker(database_url: str) -> Iterator[RunningBroker]:
    """The broker with BROKER_TENANT_DOMAIN: each tenant served at http://<slug>.lti.localhost:<port>."""
    with loopback_localhost():
        yield from _serve_broker(database_url, tenant_domain=TENANT_DOMAIN)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def hosts_services(hosts_broker: RunningBroker) -> AsyncIterator[Services]:
    """The host-mode broker's services, for arranging and checking state."""
    services = create_services(hosts_broker.settings)
    yield services
    await services.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def services(broker: RunningBroker) -> AsyncIterator[Services]:
    """Direct access to the broker's services (its own engine) for arranging and checking state."""
    services = create_services(broker.settings)
    yield services
    await services.close()


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest_asyncio.fixture(loop_scope="session")
async def tenant(services: Services) -> CreatedTenant:
    return await services.tenants.create(unique_slug("acme"), "Acme Quiz", tool_url="https://tool.example/launch")


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain client for talking to the broker and emulators as a browser or a tool would."""
    async with httpx.AsyncClient(timeout=20, headers={"User-Agent": "lti-broker-tests"}) as client:
        yield client
