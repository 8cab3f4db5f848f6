"""The event feed (/api/v1/events) for tools that would rather pull than receive webhooks, and replays.

The feed is the tenant's events in commit order. `next` is always a cursor, even on an empty page: keep it
and ask again with `?after=<next>` to receive only what is new.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.pagination import decode_position, encode_position, parse_limit
from broker.api.params import not_found
from broker.api.problems import ApiProblem
from broker.webhooks.queries import ReplayError, UnknownEventError, get_event, list_events, replay_event
from broker.webhooks.representation import delivery_item, event_item


async def events(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    limit = parse_limit(request.query_params.get("limit"))
    after = decode_position(request.query_params.get("after"))
    rows = await list_events(request.app.state.database, tenant_id=tenant.id, after_sequence=after, limit=limit)
    position = rows[-1].sequence if rows else after
    return JSONResponse({"items": [event_item(row) for row in rows], "next": encode_position(position)})


async def event(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    row = await get_event(request.app.state.database, tenant_id=tenant.id, event_id=request.path_params["id"])
    if row is None:
        raise not_found("event")
    return JSONResponse(event_item(row))


async def replay(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    try:
        delivery = await replay_event(
            request.app.state.database, event_id=request.path_params["id"], tenant_id=tenant.id
        )
    except UnknownEventError as error:
        raise not_found("event") from error
    except ReplayError as error:
        raise ApiProblem(409, "Conflict", str(error)) from error
    return JSONResponse(delivery_item(delivery), status_code=202)


routes = [
    Route("/api/v1/events", events, methods=["GET"]),
    Route("/api/v1/events/{id}", event, methods=["GET"]),
    Route("/api/v1/events/{id}/replay", replay, methods=["POST"]),
]
