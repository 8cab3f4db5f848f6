"""PostgreSQL round trips, counted on the wire: a TCP relay in front of the server that counts each time a client
starts sending after the server answered (or first sends), on every connection through it. What a client sends
in one go (a pipeline: BEGIN with a statement, writes with their COMMIT) is one round trip however many messages
it holds. The count does not depend on the code measured: the broker and BENCH_BEFORE's are counted alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url


@dataclass
class Relay:
    """A counting relay (`trips`: round trips since it started or since the last `reset`)."""

    url: str  # the database URL through the relay
    trips: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> int:
        with self._lock:
            trips, self.trips = self.trips, 0
        return trips

    def _count(self) -> None:
        with self._lock:
            self.trips += 1


@contextmanager
def counting(database_url: str) -> Iterator[Relay]:
    """A relay to the PostgreSQL server `database_url` names, running in a thread of its own while in use."""
    url = make_url(database_url)
    target = (url.host or "127.0.0.1", url.port or 5432)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    relay = Relay(url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False))
    loop = asyncio.new_event_loop()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, side: list[str], me: str) -> None:
        try:
            while data := await reader.read(65536):
                if me == "client" and side[0] != "client":
                    relay._count()
                side[0] = me
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def connected(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*target)
        side = ["server"]  # who sent last
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(
                pipe(client_reader, server_writer, side, "client"), pipe(server_reader, client_writer, side, "server")
            )

    stop: list[asyncio.Event] = []

    async def serve(started: threading.Event) -> None:
        stop.append(asyncio.Event())
        server = await asyncio.start_server(connected, sock=listener)
        started.set()
        await stop[0].wait()
        server.close()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    started = threading.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(started),), daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield relay
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(5)
        loop.close()


FLOWS = 40
LAUNCHES = 160


def main() -> None:
    """`make bench ONLY=pgtrips` (BENCH_DATABASE_URL names a PostgreSQL database): round trips to PostgreSQL
    per registration flow (1 admin) and per launch, of this checkout's broker and BENCH_BEFORE's, each alone
    through the relay while the other waits."""
    import os
    from contextlib import ExitStack

    from bench import launch, platform, registration
    from bench.deployment import deployment
    from bench.loadgen import broker_servers

    database_url = os.environ.get("BENCH_DATABASE_URL", "")
    if not database_url.startswith("postgresql"):
        print("pgtrips: set BENCH_DATABASE_URL=postgresql://… to count PostgreSQL round trips")
        return
    with counting(database_url) as relay, deployment(relay.url) as bench, ExitStack() as running:
        lms, key = running.enter_context(platform.running())
        figures: dict[str, tuple[float, float]] = {}
        for name, server in broker_servers(running, bench.env).items():
            registration.measure(server, bench.slug, lms.url, 8, 1)  # warm-up: connections, caches
            relay.reset()
            registration.measure(server, bench.slug, lms.url, FLOWS, 1)
            flow = relay.reset() / FLOWS
            users = launch.users(bench, server, lms, key)[:1]
            launch.measure(users, server.pid, 16)
            relay.reset()
            launch.measure(users, server.pid, LAUNCHES)
            figures[name] = (flow, relay.reset() / LAUNCHES)
    print(f"PostgreSQL round trips (counted on the wire), {FLOWS} registration flows and {LAUNCHES} launches, "
          "one at a time:")
    for name, (flow, per_launch) in figures.items():
        print(f"  {name:<14} {flow:6.1f} a registration flow {per_launch:6.1f} a launch")
