"""Bearer API-key authentication for the pull API."""

from __future__ import annotations

from starlette.requests import Request

from broker.api.problems import ApiProblem
from tenants.models import Tenant

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="lti-broker"'}


async def authenticated_tenant(request: Request) -> Tenant:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise ApiProblem(
            401, "Unauthorized", "Send your API key as 'Authorization: Bearer <key>'.", headers=_CHALLENGE
        )
    tenant = await request.app.state.tenants.authenticate(credentials.strip())
    if tenant is None:
        raise ApiProblem(
            401,
            "Unauthorized",
            "The API key is unknown or revoked; create a new one with `broker tenants create` or ask your operator.",
            headers=_CHALLENGE,
        )
    return tenant
