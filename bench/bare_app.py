"""The baseline for the JWKS route: a bare Starlette route answering the same JSON body from memory; with
BENCH_HEADERS (JSON, name to value), with those headers too (the broker's own: what the server's writing of
them costs, apart from the broker's work)."""

from __future__ import annotations

import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = os.environ.get("BENCH_BODY", '{"keys":[]}').encode()
HEADERS: dict[str, str] = json.loads(os.environ.get("BENCH_HEADERS", "{}"))


async def endpoint(request: Request) -> Response:
    return Response(BODY, media_type="application/json", headers=HEADERS)


app = Starlette(routes=[Route(os.environ.get("BENCH_PATH", "/t/{slug}/.well-known/jwks.json"), endpoint)])
