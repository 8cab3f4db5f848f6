"""The pool of spare signing keys and the child process that makes them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from broker.database import Database
from broker.migrate import upgrade
from tenants.encryption import SecretBox
from tenants.key_pool import KeyPool
from tests.conftest import TEST_SECRET_KEY
from tests.fleet.processes import alive, children

pytestmark = pytest.mark.asyncio(loop_scope="session")

WAIT_ROUNDS = 1200
STEP_S = 0.05


async def test_closing_the_pool_while_a_key_is_made_keeps_the_key_and_stops_the_generator(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    upgrade(url)
    database = Database(url)
    pool = KeyPool(database, SecretBox(TEST_SECRET_KEY), size=1)
    before = children(os.getpid())
    refill = asyncio.create_task(pool.refill())
    for _ in range(WAIT_ROUNDS):
        helpers = children(os.getpid()) - before
        if helpers:
            break
        await asyncio.sleep(STEP_S)
    await pool.close()
    try:
        assert helpers and not any(map(alive, helpers)), "the key generator still runs after the pool closed"
        assert await refill == 1 and await pool.spare() == 1, "the key made while closing was lost"
    finally:
        await database.dispose()
