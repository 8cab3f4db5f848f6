"""The tenant's own settings (/api/v1/tenant): read them, or change some with PATCH.

The API twin of `broker tenants update`. A PATCH names only what it changes; `tool_configuration` replaces
the whole configuration (keys left out take their defaults). A bad value is a 422 naming its field.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.params import json_object
from broker.api.problems import ApiProblem
from tenants.representation import tenant_settings_item
from tenants.services import TenantError


async def read_settings(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    return JSONResponse(tenant_settings_item(request.app.state.settings, tenant))


async def change_settings(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    changes = await json_object(request)
    try:
        tenant = await request.app.state.tenants.update(tenant.id, changes)
    except TenantError as error:
        raise ApiProblem(422, f"Invalid {error.field}", f"{error.field}: {error.reason}.") from error
    return JSONResponse(tenant_settings_item(request.app.state.settings, tenant))


routes = [
    Route("/api/v1/tenant", read_settings, methods=["GET"]),
    Route("/api/v1/tenant", change_settings, methods=["PATCH"]),
]
