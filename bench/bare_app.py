"""The baseline for the JWKS route: a bare Starlette route answering the same JSON body from memory."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = os.environ.get("BENCH_BODY", '{"keys":[]}').encode()


async def endpoint(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route(os.environ.get("BENCH_PATH", "/t/{slug}/.well-known/jwks.json"), endpoint)])
