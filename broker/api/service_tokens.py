"""Service tokens and verification of a registration (/api/v1/registrations/{id}/token and /verify)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.params import json_object
from broker.registration.representation import registration_item
from broker.tokens.service import TokenService


async def token(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    body = await json_object(request)
    # A TokenRefused is a Refusal, answered as problem details JSON.
    granted = await _service(request).token(tenant, request.path_params["id"], body.get("scopes"))
    return JSONResponse(
        {
            "access_token": granted.access_token,
            "token_type": granted.token_type,
            "expires_in": granted.expires_in,
            "scope": granted.scope,
        },
        headers={"Cache-Control": "no-store"},
    )


async def verify(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    verification = await _service(request).verify(tenant, request.path_params["id"])
    # The proof is that a token was granted; the token itself is not handed out here.
    return JSONResponse(
        {
            "verified": True,
            "scope": verification.token.scope,
            "registration": registration_item(verification.registration),
        }
    )


def _service(request: Request) -> TokenService:
    service: TokenService = request.app.state.tokens
    return service


routes = [
    Route("/api/v1/registrations/{id}/token", token, methods=["POST"]),
    Route("/api/v1/registrations/{id}/verify", verify, methods=["POST"]),
]
