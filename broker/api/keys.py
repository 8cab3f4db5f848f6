"""The tenant's signing keys (/api/v1/keys) and their rotation.

Rotating publishes a new key at once; it signs only once every cache of the JWKS can have seen it
(`activates_at`), and the old key stays published for a grace period after that.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.key_rotation import signing_key_item


async def keys(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    rows = await request.app.state.key_rotation.keys(tenant.id)
    return JSONResponse({"items": [signing_key_item(row) for row in rows], "next": None})


async def rotate(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    rotation = await request.app.state.key_rotation.start(tenant.id)
    return JSONResponse({**signing_key_item(rotation.next_key), "started": rotation.started}, status_code=202)


routes = [
    Route("/api/v1/keys", keys, methods=["GET"]),
    Route("/api/v1/keys/rotate", rotate, methods=["POST"]),
]
