"""The tool's webhook endpoint for the webhook benchmark, served in a process of its own (so that it does not
share the worker's CPU or interpreter lock): answers 200 at once and notes when each `webhook-id` arrived.

`GET /arrived` says how many events have arrived; `GET /arrivals` gives each one's arrival time.
"""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

_arrivals: dict[str, float] = {}


async def receive(request: Request) -> Response:
    await request.body()
    webhook_id = request.headers.get("webhook-id")
    if webhook_id:  # the baseline's posts carry none
        _arrivals.setdefault(webhook_id, time.time())
    return Response(status_code=200)  # with Content-Length: 0, which the baseline's client needs


async def arrived(request: Request) -> Response:
    return PlainTextResponse(str(len(_arrivals)))


async def arrivals(request: Request) -> Response:
    return JSONResponse(_arrivals)


app = Starlette(
    routes=[
        Route("/hook", receive, methods=["POST"]),
        Route("/arrived", arrived),
        Route("/arrivals", arrivals),
    ]
)
