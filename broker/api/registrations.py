"""The pull API for registrations (/api/v1/registrations): list with filters, get, and status changes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.pagination import decode_cursor, page_of, parse_limit
from broker.api.params import choice, not_found, timestamp
from broker.api.problems import ApiProblem
from broker.registration.queries import RegistrationFilter, get_registration, list_registrations
from broker.registration.representation import registration_item
from broker.registration.status import StatusChangeError, UnknownRegistrationError, change_status

STATUSES = ("active", "pending", "disabled")


async def registrations(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    limit = parse_limit(request.query_params.get("limit"))
    after = decode_cursor(request.query_params.get("cursor"))
    filters = RegistrationFilter(
        status=choice(request, "status", STATUSES),
        product_family_code=request.query_params.get("product_family_code"),
        updated_since=timestamp(request, "updated_since"),
    )
    rows = await list_registrations(
        request.app.state.database, tenant_id=tenant.id, after_id=after, limit=limit + 1, filters=filters
    )
    return JSONResponse(page_of(rows, limit, registration_item))


async def registration(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    row = await get_registration(
        request.app.state.database, tenant_id=tenant.id, registration_id=request.path_params["id"]
    )
    if row is None:
        raise not_found("registration")
    return JSONResponse(registration_item(row))


def _status_change(action: str) -> Route:
    async def endpoint(request: Request) -> Response:
        tenant = await authenticated_tenant(request)
        try:
            row = await change_status(
                request.app.state.database, request.path_params["id"], action, tenant_id=tenant.id
            )
        except UnknownRegistrationError as error:
            raise not_found("registration") from error
        except StatusChangeError as error:
            raise ApiProblem(409, "Conflict", str(error)) from error
        return JSONResponse(registration_item(row))

    endpoint.__name__ = f"{action}_registration"
    return Route(f"/api/v1/registrations/{{id}}/{action}", endpoint, methods=["POST"])


routes = [
    Route("/api/v1/registrations", registrations, methods=["GET"]),
    Route("/api/v1/registrations/{id}", registration, methods=["GET"]),
    _status_change("activate"),
    _status_change("disable"),
    _status_change("enable"),
]
