"""Limits of the public pages anyone can call (registration and launch): requests per client address and per
tenant, and, for the registration steps that make the broker call out for an anonymous caller, calls per
minute and calls in flight per client address and per tenant.

The client address is the connection's, or the one a trusted reverse proxy put in `X-Forwarded-For`
(uvicorn's proxy headers, trusted from the addresses in FORWARDED_ALLOW_IPS).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.requests import Request
from starlette.responses import Response

from broker.limits.store import LimitStore, Places, Rate
from broker.metrics import RATE_LIMIT_REFUSALS
from broker.refusals import Refusal, refusal_page
from broker.services import services
from broker.settings import Settings

# A tenant's registration calls a minute, as a multiple of one address's: several LMS admins at once.
TENANT_FETCH_FACTOR = 6


class TooManyRequests(Refusal):
    status_code = 429
    title = "Too many requests"

    def __init__(self, detail: str, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        super().__init__(
            detail,
            next_step=f"Wait {seconds} seconds, then reload this page. If it keeps happening, tell the tool's vendor.",
            headers={"Retry-After": str(seconds)},
        )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class PublicLimits:
    def __init__(self, store: LimitStore, settings: Settings) -> None:
        self.store = store
        self.per_address = Rate("public-address", settings.public_rate_limit)
        self.per_tenant = Rate("public-tenant", settings.tenant_rate_limit)
        self.fetches_per_address = Rate("fetch-address", settings.registration_fetch_limit)
        self.fetches_per_tenant = Rate("fetch-tenant", settings.registration_fetch_limit * TENANT_FETCH_FACTOR)
        self.in_flight_per_address, self.in_flight_per_tenant = settings.registration_fetch_concurrency

    async def check_request(self, tenant: str, address: str) -> None:
        """A request to a tenant's public page; TooManyRequests past a limit."""
        wait = await self.store.take([(self.per_address, address), (self.per_tenant, tenant)])
        if wait:
            raise TooManyRequests(
                "This network or this tool has made more requests than the broker takes in a minute.", wait
            )

    @asynccontextmanager
    async def outbound_call(self, tenant: str, address: str) -> AsyncIterator[None]:
        """Holds a place for a registration step that calls the platform; TooManyRequests when there is none."""
        wait = await self.store.take([(self.fetches_per_address, address), (self.fetches_per_tenant, tenant)])
        if wait:
            RATE_LIMIT_REFUSALS.labels("registration_calls").inc()
            raise TooManyRequests(
                "Registrations of this tool, or from your network, were started more often than the broker "
                "allows in a minute.",
                wait,
            )
        places = [
            Places("fetching-address", self.in_flight_per_address, address),
            Places("fetching-tenant", self.in_flight_per_tenant, tenant),
        ]
        leases = await self.store.acquire(places)
        if leases is None:
            RATE_LIMIT_REFUSALS.labels("registration_calls_in_flight").inc()
            raise TooManyRequests(
                "Other registrations of this tool, or from your network, are waiting for their platforms right now.",
                5,
            )
        try:
            yield
        finally:
            await self.store.release(leases)


def limited(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A public tenant page behind the per-address and per-tenant request limits; past one, a 429 page (it may
    be shown in the LMS's frame) with Retry-After."""

    async def checked(request: Request) -> Response:
        try:
            await services(request).public_limits.check_request(request.path_params["slug"], client_address(request))
        except TooManyRequests as refusal:
            RATE_LIMIT_REFUSALS.labels("public").inc()
            return refusal_page(request, refusal, framable=True)
        return await endpoint(request)

    return checked
