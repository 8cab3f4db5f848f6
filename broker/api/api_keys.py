"""API keys (/api/v1/api-keys): several named keys per tenant; a new key is shown once, in its creation."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.params import json_object, not_found
from broker.api.problems import ApiProblem
from tenants.api_keys import ApiKeyError, UnknownApiKeyError, api_key_item


async def api_keys(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    rows = await request.app.state.api_keys.list(tenant.id)
    return JSONResponse({"items": [api_key_item(row) for row in rows], "next": None})


async def create_api_key(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    body = await json_object(request)
    name = body.get("name")
    if not isinstance(name, str):
        raise ApiProblem(422, "Invalid name", 'Send {"name": "..."}: what the key is for, 1 to 100 characters.')
    try:
        row, key = await request.app.state.api_keys.create(tenant.id, name)
    except ApiKeyError as error:
        raise ApiProblem(422, "Invalid name", str(error)) from error
    return JSONResponse({**api_key_item(row), "key": key}, status_code=201)


async def revoke_api_key(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    try:
        row = await request.app.state.api_keys.revoke(request.path_params["id"], tenant_id=tenant.id)
    except UnknownApiKeyError as error:
        raise not_found("API key") from error
    except ApiKeyError as error:
        raise ApiProblem(409, "Conflict", str(error)) from error
    return JSONResponse(api_key_item(row))


routes = [
    Route("/api/v1/api-keys", api_keys, methods=["GET"]),
    Route("/api/v1/api-keys", create_api_key, methods=["POST"]),
    Route("/api/v1/api-keys/{id}", revoke_api_key, methods=["DELETE"]),
]
