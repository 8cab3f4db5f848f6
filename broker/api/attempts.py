"""The pull API for registration attempts (/api/v1/registration-attempts), failed ones included.

An attempt's id is the reference an LMS admin was shown on a failure page, so support can look it up here.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.pagination import decode_cursor, page_of, parse_limit
from broker.api.params import choice, not_found
from broker.registration.attempts import STATUSES, attempt_item, get_attempt, list_attempts


async def attempts(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    limit = parse_limit(request.query_params.get("limit"))
    rows = await list_attempts(
        request.app.state.database,
        tenant_id=tenant.id,
        status=choice(request, "status", STATUSES),
        after_id=decode_cursor(request.query_params.get("cursor")),
        limit=limit + 1,
    )
    return JSONResponse(page_of(rows, limit, attempt_item))


async def attempt(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    row = await get_attempt(request.app.state.database, tenant_id=tenant.id, attempt_id=request.path_params["id"])
    if row is None:
        raise not_found("registration attempt")
    return JSONResponse(attempt_item(row))


routes = [
    Route("/api/v1/registration-attempts", attempts, methods=["GET"]),
    Route("/api/v1/registration-attempts/{id}", attempt, methods=["GET"]),
]
