"""The tenant's public keys at /t/{slug}/.well-known/jwks.json, served from the in-memory key ring.

Platforms fetch this on every launch they sign for us, so it is a raw ASGI endpoint: no Request object, and
one prebuilt response per published key set, reused until the key ring hands out a new one.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tenants.keys import TenantKeys

# Platforms cache the key set; five minutes keeps a rotation's new key visible well within its grace period.
# Key rotation waits this long (plus the key ring's TTL) between publishing a key and signing with it.
JWKS_MAX_AGE = 300
CACHE_CONTROL = f"public, max-age={JWKS_MAX_AGE}"

_NOT_FOUND = JSONResponse(
    {"type": "about:blank", "title": "No such tenant", "status": 404, "detail": "Check the tenant's slug."},
    status_code=404,
    media_type="application/problem+json",
)


class JWKSEndpoint:
    def __init__(self) -> None:
        self._responses: dict[str, tuple[TenantKeys, Response]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slug = scope["path_params"]["slug"]
        keys = await scope["app"].state.key_ring.get(slug)
        await (self._response(slug, keys) if keys is not None else _NOT_FOUND)(scope, receive, send)

    def _response(self, slug: str, keys: TenantKeys) -> Response:
        cached = self._responses.get(slug)
        if cached is not None and cached[0] is keys:
            return cached[1]
        response = Response(
            keys.jwks,
            media_type="application/json",
            headers={"Cache-Control": CACHE_CONTROL, "Access-Control-Allow-Origin": "*"},
        )
        self._responses[slug] = (keys, response)
        return response


routes = [Route("/t/{slug}/.well-known/jwks.json", JWKSEndpoint(), methods=["GET"])]
