"""The child process that makes signing keys, as an operator meets it: it loads what making a key needs and no
more, it goes away with its parent however the parent ends, and a stop while it works prints no traceback."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.migrate import upgrade
from tests.fleet.processes import BrokerProcess, alive, broker_environment, children, free_port

WAIT_S = 60.0  # a loaded CI host can take long to start a process
POLL_S = 0.05
# Shared libraries that only the broker's web, API and database code loads; making a key needs none of them.
BROKER_ONLY_LIBRARIES = ("pydantic_core", "markupsafe", "uvloop", "httptools")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    """A new database: its pool of spare keys is empty, so the background loop starts making keys at once."""
    path = tmp_path / "broker.db"
    upgrade(f"sqlite:///{path}")
    yield path


def spare_keys(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM spare_signing_keys").fetchone()[0])


def start(command: str, database: Path, logs: Path) -> BrokerProcess:
    port = free_port()
    environment = broker_environment(f"sqlite:///{database}", f"http://127.0.0.1:{port}")
    if command == "serve":
        return BrokerProcess(["serve", "--port", str(port)], environment, logs / "serve.log", port).start()
    return BrokerProcess(["webhooks", "work"], environment, logs / "work.log").start()


def key_generator(process: BrokerProcess) -> set[int]:
    """The broker's child processes (the one that makes its keys, and whatever helps it), once there are some."""
    assert process.process is not None
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = children(process.process.pid)
        if found:
            return found
        time.sleep(POLL_S)
    raise AssertionError(f"no key generator started: {process.log.read_text()[-3000:]}")


def wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(POLL_S)
    raise AssertionError(what)


@pytest.mark.parametrize("command", ["serve", "webhooks work"])
def test_the_key_generator_ends_when_its_broker_is_killed(command: str, database: Path, tmp_path: Path) -> None:
    process = start(command, database, tmp_path)
    try:
        helpers = key_generator(process)
        assert process.process is not None
        os.kill(process.process.pid, signal.SIGKILL)
        process.process.wait()
        wait_until(lambda: not any(map(alive, helpers)), "the key generator outlived its killed broker")
    finally:
        process.stop()


def test_the_key_generator_loads_only_what_making_a_key_needs(database: Path, tmp_path: Path) -> None:
    process = start("webhooks work", database, tmp_path)
    try:
        helpers = key_generator(process)
        wait_until(lambda: spare_keys(database) > 0, "no spare key was made")
        libraries = "".join(Path(f"/proc/{child}/maps").read_text() for child in helpers)
    finally:
        process.stop()
    assert [name for name in BROKER_ONLY_LIBRARIES if name in libraries] == []


def test_sigterm_while_a_key_is_made_stops_cleanly_with_its_generator(database: Path, tmp_path: Path) -> None:
    process = start("webhooks work", database, tmp_path)
    try:
        helpers = key_generator(process)
        status = process.terminate()
        output = process.log.read_text()
        assert status == 0 and "Traceback" not in output, output[-3000:]
        assert not any(map(alive, helpers)), "the key generator outlived its broker"
    finally:
        process.stop()
