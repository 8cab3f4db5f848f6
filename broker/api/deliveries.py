"""Webhook deliveries (/api/v1/webhook-deliveries): each delivery of an event with every attempt made."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.pagination import decode_cursor, page_of, parse_limit
from broker.api.params import choice, not_found
from broker.webhooks.queries import get_delivery, list_deliveries
from broker.webhooks.representation import delivery_item

STATUSES = ("pending", "succeeded", "failed")


async def deliveries(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    limit = parse_limit(request.query_params.get("limit"))
    rows = await list_deliveries(
        request.app.state.database,
        tenant_id=tenant.id,
        status=choice(request, "status", STATUSES),
        event_id=request.query_params.get("event_id"),
        after_id=decode_cursor(request.query_params.get("cursor")),
        limit=limit + 1,
    )
    return JSONResponse(page_of(rows, limit, delivery_item))


async def delivery(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    row = await get_delivery(request.app.state.database, tenant_id=tenant.id, delivery_id=request.path_params["id"])
    if row is None:
        raise not_found("webhook delivery")
    return JSONResponse(delivery_item(row))


routes = [
    Route("/api/v1/webhook-deliveries", deliveries, methods=["GET"]),
    Route("/api/v1/webhook-deliveries/{id}", delivery, methods=["GET"]),
]
