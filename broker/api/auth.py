"""Bearer API-key authentication for the API, behind its rate limits (see `broker.limits.api`)."""

from __future__ import annotations

import math

from starlette.requests import Request

from broker import log_context
from broker.api.problems import TenantSuspended, TooManyRequests, Unauthorized
from broker.metrics import RATE_LIMIT_REFUSALS
from broker.services import services
from tenants.api_keys import digest_api_key
from tenants.models import Tenant


async def authenticated_tenant(request: Request) -> Tenant:
    """The tenant whose live API key the request carries; else a 401 (or a 429 past a rate limit)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    key = credentials.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    found = services(request)
    limits = found.api_limits
    digest = digest_api_key(key)
    address = request.client.host if request.client else ""
    wait = await limits.wait_before_lookup(digest, address)
    if wait:
        RATE_LIMIT_REFUSALS.labels("api").inc()
        raise TooManyRequests(
            f"An API key may make {limits.per_minute} requests a minute, and an address may fail to authenticate "
            "as often; retry after the Retry-After seconds.",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    tenant = await found.tenants.authenticate(key)
    if tenant is None:
        await limits.failed(address)
        raise Unauthorized(
            "The API key is unknown or revoked; create a new one with `broker api-keys create` or ask your operator."
        )
    limits.succeeded(digest)
    log_context.bind(tenant=tenant.slug)
    if tenant.suspended_at is not None:
        raise TenantSuspended("The broker's operator has suspended this tenant; nothing is deleted.")
    return tenant
