"""/readyz: 200 when the database answers with a schema this code runs on and the background loop is alive;
503 with the reasons otherwise. A schema newer than the code's is ready (an upgrade while old processes run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine, text

from broker.database import sync_url
from broker.health import known_revisions
from broker.migrate import alembic_config
from tests.conftest import RunningBroker, _serve_broker


def served(database_url: str, **overrides: object) -> Iterator[RunningBroker]:
    yield from _serve_broker(database_url, **overrides)


async def test_a_broker_with_a_current_schema_is_ready(http: httpx.AsyncClient, broker: RunningBroker) -> None:
    answer = await http.get(broker.url("/readyz"))
    assert answer.status_code == 200 and answer.json() == {"ready": True}
    assert answer.headers["cache-control"] == "no-store"


def set_revision(database_url: str, revision: str) -> None:
    engine = create_engine(sync_url(database_url))
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision})
    engine.dispose()


async def test_a_schema_behind_the_code_is_not_ready_and_says_to_upgrade(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    _, head = known_revisions()
    command.upgrade(alembic_config(url), f"{head}-1")
    for broker in served(url):
        answer = await http.get(broker.url("/readyz"))
        assert answer.status_code == 503
        (reason,) = answer.json()["reasons"]
        assert head in reason and "broker db upgrade" in reason


async def test_a_schema_ahead_of_the_code_is_ready(http: httpx.AsyncClient, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ahead.db'}"
    command.upgrade(alembic_config(url), "head")
    set_revision(url, "9999_a_later_release")
    for broker in served(url):
        assert (await http.get(broker.url("/readyz"))).status_code == 200


async def test_an_unreachable_database_is_not_ready(http: httpx.AsyncClient, tmp_path: Path) -> None:
    for broker in served(f"sqlite:///{tmp_path / 'missing' / 'broker.db'}"):
        answer = await http.get(broker.url("/readyz"))
        assert answer.status_code == 503
        assert answer.json()["reasons"] == ["the database does not answer (OperationalError)"]
        assert (await http.get(broker.url("/healthz"))).status_code == 200, "alive, only not ready"


@pytest.fixture
def working_broker(database_url: str) -> Iterator[RunningBroker]:
    yield from _serve_broker(database_url, run_worker=True)


async def test_a_broker_whose_background_loop_stopped_is_not_ready(
    http: httpx.AsyncClient, working_broker: RunningBroker
) -> None:
    assert (await http.get(working_broker.url("/readyz"))).status_code == 200
    assert working_broker.app is not None
    working_broker.app.state.heartbeat.stop()
    answer = await http.get(working_broker.url("/readyz"))
    assert answer.status_code == 503
    assert "background loop" in answer.json()["reasons"][0]
