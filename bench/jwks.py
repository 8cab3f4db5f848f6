"""JWKS route throughput: the broker's /t/{slug}/.well-known/jwks.json against a bare Starlette route serving
the same bytes, each with one uvicorn worker. Target: the broker at >= 85% of the bare route's requests/s.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from bench.loadgen import Result, measure_get, uvicorn_server
from broker.app import Services
from broker.migrate import upgrade
from broker.settings import Settings

REQUESTS = 10_000
CONCURRENCY = 8
ROUNDS = 3
SECRET_KEY = "bench-secret-key-" + "b" * 40


async def _seed(settings: Settings) -> bytes:
    services = Services.create(settings)
    try:
        await services.tenants.create("bench", "Bench Tool")
        keys = await services.key_ring.get("bench")
        assert keys is not None
        return keys.jwks
    finally:
        await services.close()


def _report(name: str, result: Result) -> None:
    print(f"  {name:<14} {result.per_second:9.0f} req/s   {result.cpu_ms_per_request:6.3f} ms server CPU/request")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        database_url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(database_url)
        settings = Settings(database_url=database_url, secret_key=SECRET_KEY)
        body = asyncio.run(_seed(settings))
        env = {"BROKER_DATABASE_URL": database_url, "BROKER_SECRET_KEY": SECRET_KEY, "BENCH_BODY": body.decode()}
        path = "/t/bench/.well-known/jwks.json"
        with (
            uvicorn_server("bench.bare_app:app", env) as bare_server,
            uvicorn_server("broker.app:create_app", env, factory=True) as broker_server,
        ):
            # Alternating rounds, best of each, so that noise from the rest of the machine hits both alike.
            bare_rounds, broker_rounds = [], []
            for _ in range(ROUNDS):
                bare_rounds.append(measure_get(*bare_server, path, requests=REQUESTS, concurrency=CONCURRENCY))
                broker_rounds.append(measure_get(*broker_server, path, requests=REQUESTS, concurrency=CONCURRENCY))
    bare = max(bare_rounds, key=lambda result: result.per_second)
    broker = max(broker_rounds, key=lambda result: result.per_second)
    print(f"JWKS route, best of {ROUNDS} rounds of {REQUESTS} requests over {CONCURRENCY} keep-alive connections:")
    _report("bare Starlette", bare)
    _report("broker", broker)
    print(f"  broker / bare: {broker.per_second / bare.per_second:.0%} of requests/s (target >= 85%), "
          f"{bare.cpu_ms_per_request / broker.cpu_ms_per_request:.0%} by server CPU per request")


if __name__ == "__main__":
    main()
