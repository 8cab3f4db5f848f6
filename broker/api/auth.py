"""Bearer API-key authentication for the pull API, behind a per-key rate limit."""

from __future__ import annotations

import math

from starlette.requests import Request

from broker.api.problems import ApiProblem
from tenants.api_keys import digest_api_key
from tenants.models import Tenant

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="lti-broker"'}


async def authenticated_tenant(request: Request) -> Tenant:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise ApiProblem(
            401, "Unauthorized", "Send your API key as 'Authorization: Bearer <key>'.", headers=_CHALLENGE
        )
    # Limited before the key is looked up, so a flood of requests costs no database work.
    limiter = request.app.state.rate_limiter
    wait = limiter.take(digest_api_key(credentials.strip()))
    if wait:
        raise ApiProblem(
            429,
            "Too many requests",
            f"An API key may make {limiter.per_minute} requests a minute; retry after the Retry-After seconds.",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    tenant = await request.app.state.tenants.authenticate(credentials.strip())
    if tenant is None:
        raise ApiProblem(
            401,
            "Unauthorized",
            "The API key is unknown or revoked; create a new one with `broker api-keys create` or ask your operator.",
            headers=_CHALLENGE,
        )
    return tenant
