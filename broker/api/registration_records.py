"""What was exchanged with a registration's platform, for the tenant's support staff.

`/api/v1/registrations/{id}/documents`: the documents of the registration as it stands (the platform's
configuration, our request, the platform's answer; secret-looking URL values redacted).
`/api/v1/registrations/{id}/history`: every attempt that registered or updated it, oldest first, each with
the documents of that exchange (the shape of /api/v1/registration-attempts items).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.params import not_found
from broker.registration.attempts import attempt_item, registration_history
from broker.registration.models import Registration
from broker.registration.queries import get_registration


async def _registration(request: Request) -> Registration:
    tenant = await authenticated_tenant(request)
    row = await get_registration(
        request.app.state.database, tenant_id=tenant.id, registration_id=request.path_params["id"]
    )
    if row is None:
        raise not_found("registration")
    return row


async def documents(request: Request) -> Response:
    registration = await _registration(request)
    return JSONResponse(
        {
            "platform_profile": registration.platform_profile,
            "adaptations": list(registration.adaptations or []),
            "platform_configuration": registration.platform_configuration,
            "registration_request": registration.registration_request,
            "registration_response": registration.registration_response,
        }
    )


async def history(request: Request) -> Response:
    registration = await _registration(request)
    attempts = await registration_history(request.app.state.database, registration_id=registration.id)
    return JSONResponse({"items": [attempt_item(attempt) for attempt in attempts]})


routes = [
    Route("/api/v1/registrations/{id}/documents", documents, methods=["GET"]),
    Route("/api/v1/registrations/{id}/history", history, methods=["GET"]),
]
