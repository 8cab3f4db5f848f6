"""What every request pays before and after its route, in-process: a Starlette app with the broker's middleware
(request id, log context, security headers, the access line written by the broker's logging set-up, text format,
to /dev/null) against the same route in a bare Starlette app, and the same with the access line off (the
middleware alone). Printed: µs of CPU a request (best of ROUNDS) and Python calls a request (cProfile; calls do
not move with the machine's load). With BENCH_BEFORE, that checkout measures the same in a process of its own.
"""

from __future__ import annotations

import cProfile
import logging
import os
import pstats
from collections.abc import Callable, Coroutine
from typing import Any

ROUNDS = 5
NUMBER = 3000
PROCESSES = 3


async def measure(best_cpu: Callable[..., Coroutine[Any, Any, float]]) -> dict[str, float]:
    """This process's figures, for the checkout its `broker` package comes from."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
    from starlette.types import ASGIApp, Message

    from broker.logs import configure_logging
    from broker.middleware import BrokerMiddleware

    configure_logging("INFO", "text")
    nowhere = open(os.devnull, "w")  # noqa: ASYNC230, SIM115 - once, for the process's life
    for handler in logging.getLogger().handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(nowhere)

    async def page(request: Request) -> Response:
        return Response("ok", media_type="text/plain")

    routes = [Route("/t/{slug}/lti/launch", page)]
    bare = Starlette(routes=routes)
    broker = Starlette(routes=routes, middleware=[Middleware(BrokerMiddleware)])
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/t/acme/lti/launch", "raw_path": b"/t/acme/lti/launch", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"broker.test"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    def request(app: ASGIApp) -> Any:
        return lambda: app(dict(scope), receive, send)

    access = logging.getLogger("broker.access")
    figures: dict[str, float] = {}
    for _ in range(2):  # alternating, so that none has the machine's quieter moments to itself
        for name, app, level in (("bare", bare, logging.INFO), ("broker", broker, logging.INFO),
                                 ("no line", broker, logging.WARNING)):  # fmt: skip
            access.setLevel(level)
            figure = await best_cpu(request(app), rounds=ROUNDS, number=NUMBER)
            figures[name] = min(figures.get(name, figure), figure)
    for name, app, level in (("bare", bare, logging.INFO), ("broker", broker, logging.INFO)):
        access.setLevel(level)
        profile = cProfile.Profile()
        run = request(app)
        profile.enable()
        for _ in range(1000):
            await run()
        profile.disable()
        figures[f"{name} calls"] = pstats.Stats(profile).total_calls / 1000  # type: ignore[attr-defined]
    return figures


def main() -> None:
    from bench.inprocess import best_of_processes

    best = best_of_processes(__file__, PROCESSES)
    print(f"per request, in-process, µs of CPU (best of {PROCESSES} processes, {ROUNDS} rounds of {NUMBER}):")
    for name, figures in best.items():
        print(
            f"  {name}: with the access line {figures['broker']:.1f} ({figures['broker calls']:.0f} calls), "
            f"the middleware alone {figures['no line']:.1f}; bare Starlette route {figures['bare']:.1f} "
            f"({figures['bare calls']:.0f} calls)"
        )
