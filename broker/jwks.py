"""The tenant's public keys at /t/{slug}/.well-known/jwks.json, served from the in-memory key ring."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# Platforms cache the key set; five minutes keeps a rotation's new key visible well within its grace period.
# Key rotation waits this long (plus the key ring's TTL) between publishing a key and signing with it.
JWKS_MAX_AGE = 300
CACHE_CONTROL = f"public, max-age={JWKS_MAX_AGE}"


async def jwks(request: Request) -> Response:
    keys = await request.app.state.key_ring.get(request.path_params["slug"])
    if keys is None:
        return JSONResponse({"title": "No such tenant", "status": 404}, status_code=404,
                            media_type="application/problem+json")
    return Response(
        keys.jwks,
        media_type="application/json",
        headers={"Cache-Control": CACHE_CONTROL, "Access-Control-Allow-Origin": "*"},
    )


routes = [Route("/t/{slug}/.well-known/jwks.json", jwks, methods=["GET"])]
