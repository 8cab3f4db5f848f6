"""Broker processes as an operator runs them (`broker serve`, `broker webhooks work`), each a process of its
own with nothing shared but the database: started, waited for, stopped (SIGTERM) or killed (SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET_KEY

BROKER = str(Path(sys.executable).parent / "broker")
START_TIMEOUT_S = 90.0  # a loaded CI host can take long to import and start
STOP_TIMEOUT_S = 30.0
POLL_S = 0.05


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> set[int]:
    """The processes `pid` started that still run (or wait to be reaped), from /proc."""
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            found |= {int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()}
        except FileNotFoundError:
            continue
    return found


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie has ended: only its parent has yet to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def broker_environment(database_url: str, base_url: str, **settings: str) -> dict[str, str]:
    """What every process of one deployment shares: the database, the secret key, the public base URL."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("BROKER_")}
    return environment | {
        "BROKER_DATABASE_URL": database_url,
        "BROKER_SECRET_KEY": TEST_SECRET_KEY,
        "BROKER_BASE_URL": base_url,
        "BROKER_ALLOW_INSECURE_PLATFORMS": "1",
        **settings,
    }


@dataclass
class BrokerProcess:
    """One `broker` command running in a process of its own; `port` for `serve`."""

    arguments: list[str]
    environment: dict[str, str]
    log: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def serve(cls, environment: dict[str, str], log_dir: Path, name: str, **settings: str) -> BrokerProcess:
        port = free_port()
        arguments = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        return cls(arguments, environment | settings, log_dir / f"{name}.log", port)

    @classmethod
    def worker(cls, environment: dict[str, str], log_dir: Path, name: str) -> BrokerProcess:
        return cls(["webhooks", "work"], environment, log_dir / f"{name}.log")

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BrokerProcess:
        with self.log.open("ab") as log:
            # A process group of its own, so that a kill takes its helper processes (key generation, workers)
            # with it, as the end of a container would.
            self.process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
                [BROKER, *self.arguments], env=self.environment, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        if self.port is not None:
            try:
                self._wait_ready()
            except BaseException:
                self.stop()
                raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(POLL_S)
        raise AssertionError(f"{self.arguments} was not ready in {START_TIMEOUT_S} s: {self.log.read_text()[-3000:]}")

    def command(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """Another `broker` command beside this process, with its settings."""
        return subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
            [BROKER, *arguments], env=self.environment, capture_output=True, text=True, timeout=60, check=False
        )

    def kill(self) -> None:
        """SIGKILL: nothing is finished, nothing is cleaned up."""
        assert self.process is not None
        self._kill_group()
        self.process.wait(STOP_TIMEOUT_S)

    def terminate(self) -> int:
        """SIGTERM, and the exit status once the process has shut down."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is not None:
            self._kill_group()
            self.process.wait(STOP_TIMEOUT_S)

    def _kill_group(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
