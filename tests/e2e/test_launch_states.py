"""The launch's state during an upgrade, end to end: a login seals its state into `state` and stores nothing; the
release before also stored each login's row, and spends a sealed state with no row by inserting its row used.
Whichever process began the login, a launch finishes once, and a replay is refused.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import insert, select

from broker.database import utcnow
from broker.launch import errors
from broker.launch.models import LaunchState
from broker.launch.states import LAUNCH_STATE_TTL, LaunchStates
from broker.services import Services
from tests.clock import Clock
from tests.conftest import RunningBroker
from tests.e2e.launching import Launch, Registered, finish, registered, start


def launch_states(broker: RunningBroker, services: Services, clock: Clock | None = None) -> LaunchStates:
    return LaunchStates(services.database, broker.settings.secret_key, **({"clock": clock} if clock else {}))


def state_of(started: Launch) -> str:
    assert started.platform_post is not None, started.login.text
    return started.platform_post.fields["state"]


def assert_relayed(done: Launch) -> None:
    assert done.relay is not None and done.relay.status_code == 200, done.relay and done.relay.text
    assert "launch_token" in done.relay.text


def assert_used(done: Launch) -> None:
    assert done.relay is not None and done.relay.status_code == 400, done.relay and done.relay.text
    assert "already used" in done.relay.text
    assert "launch_token" not in done.relay.text


async def stored_row(services: Services, digest: str) -> LaunchState | None:
    async with services.database.session() as session:
        return await session.scalar(select(LaunchState).where(LaunchState.digest == digest))


@asynccontextmanager
async def started_here(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> AsyncIterator[tuple[Registered, Launch, str]]:
    """A login answered by this release, and the digest of its state (the key of the row that spends it)."""
    async with registered(http, broker, services) as setup:
        started = await start(http, setup.platform)
        yield setup, started, launch_states(broker, services).digest(state_of(started))


async def store_row(services: Services, setup: Registered, started: Launch, digest: str, used: datetime | None) -> None:
    """The row a process of the release before writes for this login: unused at its login, used when it spent a
    sealed state whose login stored none."""
    nonce = dict(parse_qsl(urlsplit(started.login.headers["location"]).query))["nonce"]
    params = started.initiation.params
    async with services.database.transaction() as session:
        await session.execute(
            insert(LaunchState).values(
                digest=digest,
                tenant_id=setup.tenant.tenant.id,
                registration_id=setup.registration["id"],
                nonce=nonce,
                target_link_uri=params["target_link_uri"],
                lti_deployment_id=params.get("lti_deployment_id"),
                expires_at=utcnow() + LAUNCH_STATE_TTL,
                used_at=used,
            )
        )


async def test_a_login_stored_by_the_release_before_is_finished_once_by_this_one(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    """An old process sealed its login's state and stored its row: a launch here marks that row used."""
    async with started_here(http, broker, services) as (setup, started, digest):
        await store_row(services, setup, started, digest, used=None)
        assert_relayed(await finish(http, started))
        spent = await stored_row(services, digest)
        again = await finish(http, started)
    assert spent is not None and spent.used_at is not None
    assert_used(again)


async def test_a_login_stores_no_row_and_its_launch_inserts_it_used(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with started_here(http, broker, services) as (setup, started, digest):
        assert await stored_row(services, digest) is None, "the login wrote no state"
        assert_relayed(await finish(http, started))
        spent = await stored_row(services, digest)
        again = await finish(http, started)
    assert spent is not None and spent.used_at is not None, "a process of the release before finds it used"
    assert spent.tenant_id == setup.tenant.tenant.id and spent.registration_id == setup.registration["id"]
    assert_used(again)


async def test_a_state_spent_by_a_process_of_the_release_before_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with started_here(http, broker, services) as (setup, started, digest):
        # What an old process does with a sealed state whose login stored no row: inserts the row, used.
        await store_row(services, setup, started, digest, used=utcnow())
        done = await finish(http, started)
    assert_used(done)


@pytest.mark.parametrize("respell", [lambda state: state[:20] + "!" + state[20:], lambda state: state + "\n"])
async def test_another_spelling_of_a_spent_sealed_state_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, respell: object
) -> None:
    """Base64 decoders skip characters outside their alphabet: the same sealed bytes, spelt otherwise, would
    have another digest, and so another row to spend, if the broker took them."""
    async with started_here(http, broker, services) as (_, started, _):
        assert_relayed(await finish(http, started))
        again = await finish(http, started, state=respell(state_of(started)))  # type: ignore[operator]
    assert again.relay is not None and again.relay.status_code == 400
    assert "launch_token" not in again.relay.text


async def test_a_sealed_state_expires_and_belongs_to_its_tool(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with started_here(http, broker, services) as (setup, started, _):
        state = state_of(started)
        later = launch_states(broker, services, Clock(time.time() + LAUNCH_STATE_TTL.total_seconds() + 1))
        with pytest.raises(errors.LaunchStateRefused, match="expired"):
            await later.spend(setup.tenant.tenant.id, state)
        with pytest.raises(errors.LaunchStateRefused, match="unknown"):
            await launch_states(broker, services).spend("ten_another", state)
        done = await finish(http, started)
    assert_relayed(done)
