"""What one Dynamic Registration flow costs the broker in-process, on SQLite, counted rather than timed: the
Python function calls (cProfile), the SQL statements (sqlite3's trace of every connection, during the counted
flows only; BEGIN, COMMIT and ROLLBACK counted apart) and the database pages written (WAL frames: no checkpoint
runs during the counted flows, so the WAL grows by each frame) of a flow, over FLOWS flows after WARM_UP, with
no server: the app is called as ASGI with the two requests an admin's browser makes (the initiation GET, the
review form posted with its defaults), against the fast loopback platform of bench/platform.py. Only the app's
own calls are profiled (not this harness's parsing of the review page). Also printed: the process's CPU per flow
spent in the app's calls (best of ROUNDS rounds), which moves with the machine's load where the counts do not.

Counted twice: flows that register the same LMS again and again (its key set exists after the first), and flows
each from an LMS the broker has not seen, which binds a spare signing key to that LMS. Their spare keys are put in
the pool beforehand, as the background loop does, all copies of one key pair under kids of their own (what a
flow does with a spare key does not depend on the key).

With BENCH_BEFORE, that checkout counts the same in a process of its own, on a database of its own;
`BENCH_PROFILE_TOP=N` writes each step's N costliest functions and the statements a flow makes to
bench/profiles/registration_counts-<checkout folder>.txt.
"""

from __future__ import annotations

import contextlib
import cProfile
import json
import os
import pstats
import runpy
import secrets
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

FLOWS = 50
WARM_UP = 20
ROUNDS = 3
PROCESSES = 2
# A WAL file's header, and each frame's before its page (https://www.sqlite.org/fileformat2.html#walformat).
_WAL_HEADER, _FRAME_HEADER = 32, 24


async def measure(
    _best_cpu: Callable[..., Coroutine[Any, Any, float]], platform_url: str, lms: str = "same"
) -> dict[str, float]:
    """This process's figures, for the checkout its `broker` package comes from (the CPU is timed around the app's
    calls alone, so `_best_cpu` is not used); `lms` "new" makes each flow's LMS one the broker has not seen."""
    # bench/ is no package on this process's path (see bench/inprocess.py): the harness's form reader by its file.
    post_forms = runpy.run_path(str(Path(__file__).with_name("loadgen.py")))["post_forms"]
    statements: Counter[str] = Counter()
    counting = [False]
    connections: list[sqlite3.Connection] = []  # sqlite3's connections take no weak references
    connect = sqlite3.connect

    def trace(statement: str) -> None:
        statements[statement.strip()] += 1

    def watch(connection: sqlite3.Connection) -> None:
        """Traces the counted flows' statements only: with a trace callback SQLite writes each statement out with
        its bound values (10 kB documents) and calls Python, which the timed rounds must not pay. No checkpoint
        runs meanwhile, so the WAL's growth is the pages those flows wrote."""
        connection.set_trace_callback(trace)
        connection.execute("PRAGMA wal_autocheckpoint=0")

    def tracked_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = connect(*args, **kwargs)
        connections.append(connection)
        if counting[0]:
            watch(connection)
        return connection

    def open_ones() -> list[sqlite3.Connection]:
        connections[:] = [connection for connection in connections if _is_open(connection)]
        return connections

    def start_counting(database: Path) -> None:
        with contextlib.closing(connect(database)) as harness:
            # An empty WAL, so that it only grows by the frames the counted flows write.
            busy, _, _ = harness.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy or wal.stat().st_size:
            raise RuntimeError("the WAL could not be emptied before the counted flows")
        for connection in open_ones():
            watch(connection)
        counting[0] = True

    def stop_counting() -> None:
        counting[0] = False
        for connection in open_ones():
            connection.set_trace_callback(None)
            connection.execute("PRAGMA wal_autocheckpoint=1000")

    sqlite3.connect = tracked_connect  # type: ignore[assignment]
    shared = runpy.run_path(str(Path(__file__).with_name("asgi_client.py")))
    bench, database = shared["broker_with_tenant"]()
    slug = bench.slug
    wal = database.with_name(database.name + "-wal")

    from broker.app import create_app

    client = shared["AsgiClient"](create_app())
    app = client.app
    path = f"/t/{slug}/lti/register"

    async def call(method: str, query: str, body: bytes) -> bytes:
        answer = await client.call(method, path, query, body)
        page: bytes = answer.page
        if answer.status != 200:
            raise RuntimeError(f"the flow answered {answer.status}: {page[:400]!r}")
        return page

    profiles = {"initiation": cProfile.Profile(), "form post": cProfile.Profile()}
    profiling = [False]

    async def flow() -> None:
        lms_url = platform_url + (f"/p/{secrets.token_hex(8)}" if lms == "new" else "")
        configuration_url = lms_url + "/.well-known/openid-configuration"
        query = urlencode({"openid_configuration": configuration_url, "registration_token": secrets.token_hex(16)})
        profile = profiles["initiation"]
        if profiling[0]:
            profile.enable()
        review = await call("GET", query, b"")
        profile.disable()
        body = urlencode(post_forms(review, path)[0].fields).encode()
        profile = profiles["form post"]
        if profiling[0]:
            profile.enable()
        await call("POST", "", body)
        profile.disable()

    async with app.router.lifespan_context(app):
        if lms == "new":
            await _fill_key_pool(bench.env["BROKER_SECRET_KEY"], WARM_UP + FLOWS * (1 + ROUNDS))
        for _ in range(WARM_UP):
            await flow()
        start_counting(database)
        profiling[0] = True
        for _ in range(FLOWS):
            await flow()
        profiling[0] = False
        stop_counting()
        with contextlib.closing(connect(database)) as harness:
            page_size = harness.execute("PRAGMA page_size").fetchone()[0]
        frames = (wal.stat().st_size - _WAL_HEADER) / (page_size + _FRAME_HEADER)
        cpu = float("inf")
        for _ in range(ROUNDS):
            client.spent = 0.0
            for _ in range(FLOWS):
                await flow()
            cpu = min(cpu, client.spent / FLOWS * 1e6)
    figures = {"cpu": cpu, "pages": frames / FLOWS}
    top = int(os.environ.get("BENCH_PROFILE_TOP", "0"))
    report = []
    for step, profile in profiles.items():
        stats = pstats.Stats(profile)
        figures[f"calls {step}"] = stats.total_calls / FLOWS  # type: ignore[attr-defined]
        if top:
            report.append(shared["functions_section"](step, stats, top))
    figures["statements"], figures["transactions"] = shared["statement_counts"](statements, FLOWS)
    if top:
        report.append(shared["statements_section"]("statements a flow", statements, FLOWS))
        name = "registration_counts" + ("_new_lms" if lms == "new" else "")
        shared["write_report"](name, report, sys.modules["broker"].__file__ or "")
    return figures


async def _fill_key_pool(secret_key: str, count: int) -> None:
    """`count` spare keys in the pool of the broker this process points at: one key pair, each copy its own kid."""
    from joserfc.jwk import RSAKey

    from broker.database import Database
    from broker.settings import Settings
    from tenants.encryption import SecretBox
    from tenants.key_generator import SIGNING_ALGORITHM
    from tenants.models import SpareSigningKey

    key = RSAKey.generate_key(2048)
    private = SecretBox(secret_key).encrypt(json.dumps(key.as_dict(private=True)))
    database = Database(Settings.from_environ().database_url)
    try:
        async with database.transaction() as session:
            for n in range(count):
                kid = f"bench-spare-{n}"
                public = key.as_dict(private=False, kid=kid, alg=SIGNING_ALGORITHM, use="sig")
                session.add(SpareSigningKey(kid=kid, private_key_encrypted=private, public_jwk=public))
    finally:
        await database.dispose()


def _is_open(connection: sqlite3.Connection) -> bool:
    try:
        connection.total_changes  # noqa: B018 - raises once the connection is closed
    except sqlite3.ProgrammingError:
        return False
    return True


def main() -> None:
    from bench import platform
    from bench.inprocess import best_of_processes

    for lms, heading in (("same", "the same LMS again"), ("new", "an LMS not seen before, a spare key bound to it")):
        started = time.perf_counter()
        with platform.running() as (server, _):
            best = best_of_processes(__file__, PROCESSES, server.url, lms)
        print(f"registration flow in-process on SQLite ({heading}), counted over {FLOWS} flows after {WARM_UP} (best "
              f"of {PROCESSES} processes; {time.perf_counter() - started:.0f} s):")
        _print(best)


def _print(best: dict[str, dict[str, float]]) -> None:
    for name, figures in best.items():
        calls = figures["calls initiation"] + figures["calls form post"]
        print(
            f"  {name}: {calls:,.0f} Python calls a flow (initiation {figures['calls initiation']:,.0f}, form post "
            f"{figures['calls form post']:,.0f}), {figures['statements']:.0f} statements in "
            f"{figures['transactions']:.0f} transactions, {figures['pages']:.1f} database pages written (WAL frames); "
            f"{figures['cpu']:,.0f} µs of CPU a flow (best of {ROUNDS})"
        )
