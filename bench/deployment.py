"""A broker to measure, set up through its own command line only: the database migrated and one tenant made.

The tenant's slug is new on every run, so a PostgreSQL database from an earlier run can be measured again.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

BASE_URL = "http://broker.bench"
SECRET_KEY = "bench-secret-key-" + "b" * 40
TOOL_URL = "https://tool.bench/launch"
BROKER = str(Path(sys.executable).with_name("broker"))


@dataclass(frozen=True)
class Deployment:
    database_url: str
    slug: str
    env: dict[str, str]

    @property
    def engine(self) -> str:
        return self.database_url.split(":", 1)[0].split("+", 1)[0]

    def broker(self, *arguments: str) -> Any:
        """Runs the `broker` command and returns its JSON output."""
        output = subprocess.run(  # noqa: S603 - fixed arguments
            [BROKER, *arguments, "--json"], env={**os.environ, **self.env}, check=True, capture_output=True, text=True
        ).stdout
        return json.loads(output)


def database_urls() -> list[str]:
    """SQLite always (None: a fresh file), then PostgreSQL when BENCH_DATABASE_URL names one."""
    return ["", *filter(None, [os.environ.get("BENCH_DATABASE_URL")])]


def broker_env(database_url: str) -> dict[str, str]:
    """The settings a measured broker runs with."""
    return {
        "BROKER_DATABASE_URL": database_url,
        "BROKER_SECRET_KEY": SECRET_KEY,
        "BROKER_BASE_URL": BASE_URL,
        "BROKER_ALLOW_INSECURE_PLATFORMS": "1",
        "BROKER_RUN_WORKER": "0",
        # The benchmarks measure throughput, not the limits on anonymous callers: raised out of the way.
        "BROKER_PUBLIC_RATE_LIMIT": "1000000",
        "BROKER_TENANT_RATE_LIMIT": "1000000",
        "BROKER_REGISTRATION_FETCH_LIMIT": "1000000",
    }


@contextmanager
def deployment(database_url: str = "") -> Iterator[Deployment]:
    """A migrated database (a fresh SQLite file when `database_url` is empty) holding one new tenant."""
    with TemporaryDirectory() as folder:
        database_url = database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        env = broker_env(database_url)
        subprocess.run([BROKER, "db", "upgrade"], env={**os.environ, **env}, check=True, capture_output=True)  # noqa: S603
        bench = Deployment(database_url, "bench-" + secrets.token_hex(4), env)
        bench.broker("tenants", "create", bench.slug, "--name", "Bench Tool", "--tool-url", TOOL_URL)
        yield bench
