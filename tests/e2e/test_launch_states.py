"""The two forms of a launch's state during an upgrade, end to end: the state a login seals into `state` (and, for
this release, also stores as a row), and the stored state of the release before, whose processes spend rows only.
Whichever process began the login, a launch finishes once, and a replay is refused.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import delete, insert, select, update

from broker.database import utcnow
from broker.launch import errors
from broker.launch.models import LaunchState
from broker.launch.states import LAUNCH_STATE_TTL, LaunchStates
from broker.services import Services
from tests.clock import Clock
from tests.conftest import RunningBroker
from tests.e2e.launching import Launch, finish, registered, start
from tests.emulators.launch import parse_form_post


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


async def test_a_login_stored_by_the_release_before_is_finished_by_this_one(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    """An old process stored its login's state as a row under a random value; this one spends that row."""
    states = launch_states(broker, services)
    async with registered(http, broker, services) as setup:
        started = setup.platform.login_initiation()
        login = await http.post(started.url, data=started.params, headers=started.browser_headers("POST"))
        assert login.status_code == 302, login.text
        # The login an old process would have answered: the same request with a random state, stored as a row.
        location = urlsplit(login.headers["location"])
        query = dict(parse_qsl(location.query))
        sealed_row = await stored_row(services, states.digest(query["state"]))
        assert sealed_row is not None
        query["state"] = secrets.token_urlsafe(32)
        columns = {
            name: getattr(sealed_row, name)
            for name in ("tenant_id", "registration_id", "nonce", "target_link_uri", "lti_deployment_id")
        }
        async with services.database.transaction() as session:
            await session.execute(
                insert(LaunchState).values(
                    digest=states.digest(query["state"]), expires_at=utcnow() + LAUNCH_STATE_TTL, **columns
                )
            )
        authorization = await http.get(location._replace(query=urlencode(query)).geturl())
        old = Launch(started, login, authorization, parse_form_post(authorization.text))
        assert_relayed(await finish(http, old))
        again = await finish(http, old)
    assert_used(again)


async def test_a_sealed_state_without_its_row_launches_once(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    """As the next release's logins store no row: the launch inserts its row, spent, and a replay is refused."""
    states = launch_states(broker, services)
    async with registered(http, broker, services) as setup:
        started = await start(http, setup.platform)
        digest = states.digest(state_of(started))
        async with services.database.transaction() as session:
            await session.execute(delete(LaunchState).where(LaunchState.digest == digest))
        assert_relayed(await finish(http, started))
        spent = await stored_row(services, digest)
        again = await finish(http, started)
    assert spent is not None and spent.used_at is not None, "a process of the release before finds it used"
    assert spent.tenant_id == setup.tenant.tenant.id and spent.registration_id == setup.registration["id"]
    assert_used(again)


async def test_a_state_spent_by_a_process_of_the_release_before_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    states = launch_states(broker, services)
    async with registered(http, broker, services) as setup:
        started = await start(http, setup.platform)
        # What an old process does with the state it is posted: marks the row under its digest used.
        async with services.database.transaction() as session:
            await session.execute(
                update(LaunchState)
                .where(LaunchState.digest == states.digest(state_of(started)), LaunchState.used_at.is_(None))
                .values(used_at=utcnow())
            )
        done = await finish(http, started)
    assert_used(done)


@pytest.mark.parametrize("respell", [lambda state: state[:20] + "!" + state[20:], lambda state: state + "\n"])
async def test_another_spelling_of_a_spent_sealed_state_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, respell: object
) -> None:
    """Base64 decoders skip characters outside their alphabet: the same sealed bytes, spelt otherwise, would
    have another digest, and so another row to spend, if the broker took them."""
    async with registered(http, broker, services) as setup:
        started = await start(http, setup.platform)
        assert_relayed(await finish(http, started))
        again = await finish(http, started, state=respell(state_of(started)))  # type: ignore[operator]
    assert again.relay is not None and again.relay.status_code == 400
    assert "launch_token" not in again.relay.text


async def test_a_sealed_state_expires_and_belongs_to_its_tool(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        started = await start(http, setup.platform)
        state = state_of(started)
        later = launch_states(broker, services, Clock(time.time() + LAUNCH_STATE_TTL.total_seconds() + 1))
        with pytest.raises(errors.LaunchStateRefused, match="expired"):
            await later.spend(setup.tenant.tenant.id, state)
        with pytest.raises(errors.LaunchStateRefused, match="unknown"):
            await launch_states(broker, services).spend("ten_another", state)
        done = await finish(http, started)
    assert_relayed(done)

