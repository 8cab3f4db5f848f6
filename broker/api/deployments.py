"""The pull API for a registration's deployments (/api/v1/registrations/{id}/deployments)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.params import not_found
from broker.registration.queries import get_registration
from broker.registration.representation import deployment_item


async def deployments(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    row = await get_registration(
        request.app.state.database, tenant_id=tenant.id, registration_id=request.path_params["id"]
    )
    if row is None:
        raise not_found("registration")
    # A registration has a handful of deployments, so they come in one page.
    return JSONResponse({"items": [deployment_item(item) for item in row.deployments], "next": None})


routes = [Route("/api/v1/registrations/{id}/deployments", deployments, methods=["GET"])]
