"""The pull API for registrations (/api/v1/registrations): thin routes over the registration queries."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.pagination import decode_cursor, encode_cursor, parse_limit
from broker.api.problems import ApiProblem, problem_response
from broker.registration.queries import get_registration, list_registrations
from broker.registration.representation import registration_item


async def registrations(request: Request) -> Response:
    try:
        tenant = await authenticated_tenant(request)
        limit = parse_limit(request.query_params.get("limit"))
        after = decode_cursor(request.query_params.get("cursor"))
    except ApiProblem as problem:
        return problem_response(problem)
    rows = await list_registrations(
        request.app.state.database, tenant_id=tenant.id, after_id=after, limit=limit + 1
    )
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return JSONResponse({"items": [registration_item(row) for row in page], "next": next_cursor})


async def registration(request: Request) -> Response:
    try:
        tenant = await authenticated_tenant(request)
        row = await get_registration(
            request.app.state.database, tenant_id=tenant.id, registration_id=request.path_params["id"]
        )
        if row is None:
            raise ApiProblem(404, "Not found", "No registration with this id belongs to your tenant.")
    except ApiProblem as problem:
        return problem_response(problem)
    return JSONResponse(registration_item(row))


routes = [
    Route("/api/v1/registrations", registrations, methods=["GET"]),
    Route("/api/v1/registrations/{id}", registration, methods=["GET"]),
]
