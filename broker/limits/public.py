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
from typing import NoReturn

from starlette.requests import Request
from starlette.responses import Response

from broker.limits.store import DatabaseLimitStore, Joining, Lease, LimitStore, Places, Rate
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
    # The scope's (host, port), as `request.client` reads it into a named tuple at each ask.
    client = request.scope.get("client")
    return client[0] if client else "unknown"


def _refuse_request(wait: float) -> NoReturn:
    RATE_LIMIT_REFUSALS.labels("public").inc()
    raise TooManyRequests("This network or this tool has made more requests than the broker takes in a minute.", wait)


def _refuse_call(wait: float) -> NoReturn:
    RATE_LIMIT_REFUSALS.labels("registration_calls").inc()
    raise TooManyRequests(
        "Registrations of this tool, or from your network, were started more often than the broker allows in a "
        "minute.",
        wait,
    )


class PublicLimits:
    def __init__(self, store: LimitStore, settings: Settings) -> None:
        self.store = store
        self.per_address = Rate("public-address", settings.public_rate_limit)
        self.per_tenant = Rate("public-tenant", settings.tenant_rate_limit)
        self.fetches_per_address = Rate("fetch-address", settings.registration_fetch_limit)
        self.fetches_per_tenant = Rate("fetch-tenant", settings.registration_fetch_limit * TENANT_FETCH_FACTOR)
        self.in_flight_per_address, self.in_flight_per_tenant = settings.registration_fetch_concurrency

    async def check_request(self, tenant: str, address: str, joining: Joining | None = None) -> None:
        """A request to a tenant's public page; TooManyRequests past a limit."""
        wait = await self.store.take(self._request_checks(tenant, address), joining)
        if wait:
            _refuse_request(wait)

    def request(self, tenant: str, address: str) -> PublicRequest:
        """The request limits of one request to a public page, taken in its own write (see the class)."""
        return PublicRequest(self, tenant, address)

    def registration_page(self, tenant: str, address: str) -> RegistrationPageLimits:
        """The limits of a request to a registration page, taken in the writes of its step (see the class)."""
        return RegistrationPageLimits(self, tenant, address)

    async def take_call(self, tenant_id: str, address: str, joining: Joining | None) -> list[Lease]:
        """A call's tokens and its places in flight; TooManyRequests when it may not be made."""
        wait = await self.store.take(self._call_checks(tenant_id, address), joining)
        if wait:
            _refuse_call(wait)
        return await self._places(tenant_id, address, joining)

    async def enter_step(self, tenant: str, tenant_id: str, address: str, joining: Joining) -> list[Lease]:
        """`check_request` and `take_call` in the write transaction `joining`, before a registration step calls the
        platform. In the database, both requests' buckets are taken by one statement: a refusal rolls the
        transaction back, and every token with it. (Redis keeps what it took, so there a refused request takes
        no call's tokens.)"""
        if not isinstance(self.store, DatabaseLimitStore):
            await self.check_request(tenant, address, joining)
            return await self.take_call(tenant_id, address, joining)
        request = self._request_checks(tenant, address)
        waits = await self.store.take_each([*request, *self._call_checks(tenant_id, address)], joining)
        if max(waits[: len(request)]):
            _refuse_request(max(waits[: len(request)]))
        if max(waits[len(request) :]):
            _refuse_call(max(waits[len(request) :]))
        return await self._places(tenant_id, address, joining)

    def _request_checks(self, tenant: str, address: str) -> list[tuple[Rate, str]]:
        return [(self.per_address, address), (self.per_tenant, tenant)]

    def _call_checks(self, tenant_id: str, address: str) -> list[tuple[Rate, str]]:
        return [(self.fetches_per_address, address), (self.fetches_per_tenant, tenant_id)]

    async def _places(self, tenant_id: str, address: str, joining: Joining | None) -> list[Lease]:
        places = [
            Places("fetching-address", self.in_flight_per_address, address),
            Places("fetching-tenant", self.in_flight_per_tenant, tenant_id),
        ]
        leases = await self.store.acquire(places, joining)
        if leases is None:
            RATE_LIMIT_REFUSALS.labels("registration_calls_in_flight").inc()
            raise TooManyRequests(
                "Other registrations of this tool, or from your network, are waiting for their platforms right now.",
                5,
            )
        return leases

    @asynccontextmanager
    async def outbound_call(self, tenant: str, address: str) -> AsyncIterator[None]:
        """Holds a place for a registration step that calls the platform; TooManyRequests when there is none."""
        leases = await self.take_call(tenant, address, None)
        try:
            yield
        finally:
            await self.store.release(leases)


class PublicRequest:
    """The per-address and per-tenant request limits of one request to a public page, counted once: in the
    request's own write when it makes one (`count(connection)`: on the database store the tokens then commit with
    that write instead of in a transaction of their own), else on their own (`count()`) when it is done.
    """

    def __init__(self, limits: PublicLimits, tenant: str, address: str) -> None:
        self._limits = limits
        self._tenant = tenant
        self._address = address
        self._counted = False

    async def count(self, joining: Joining | None = None) -> None:
        """TooManyRequests past a limit (the caller rolls `joining` back); a request is counted once, whatever
        comes of it, so a request refused by a limit is not asked about again."""
        if not self._counted:
            self._counted = True
            await self._limits.check_request(self._tenant, self._address, joining)


class RegistrationPageLimits:
    """The limits of one request to a registration page, taken in its step's own writes rather than in
    transactions of their own (on the database store they commit with the attempt): the page's request tokens,
    and the call's tokens and places in flight, in the write before the platform is called (`enter`); the
    places given back in the write that records what came of the call (`leave`).

    A request that ends before its step's first write (an unknown tool, a spent form) still counts
    (`count_request`), and a step that ends without `leave` (a failure) gives its places back after it.
    """

    def __init__(self, limits: PublicLimits, tenant: str, address: str) -> None:
        self._limits = limits
        self._tenant = tenant
        self._address = address
        self._tenant_id = ""
        self._counted = False
        self._leases: list[Lease] = []
        self._given_back = False

    @asynccontextmanager
    async def calling(self, tenant_id: str) -> AsyncIterator[RegistrationPageLimits]:
        """The step of tenant `tenant_id` that may call the platform: on the way out, its places are given back
        unless its last write gave them back (giving back twice changes nothing, so after a failure, whose
        write may have been rolled back, they are always given back)."""
        self._tenant_id = tenant_id
        try:
            yield self
        except BaseException:
            await self._give_back()
            raise
        if not self._given_back:
            await self._give_back()

    async def enter(self, connection: Joining) -> None:
        """In the step's write before the platform is called; TooManyRequests (rolling that write back) past a
        limit."""
        # Counted here, whatever comes of it: a request refused by a limit is not asked about again.
        self._counted = True
        self._leases = await self._limits.enter_step(self._tenant, self._tenant_id, self._address, connection)

    async def leave(self, connection: Joining) -> None:
        """In the step's write after the platform answered."""
        await self._limits.store.release(self._leases, connection)
        self._given_back = True

    async def count_request(self) -> None:
        """For a request that ended before its step's first write; TooManyRequests when it is over the limit."""
        if not self._counted:
            self._counted = True
            await self._limits.check_request(self._tenant, self._address)

    async def _give_back(self) -> None:
        if self._leases:
            await self._limits.store.release(self._leases)
            self._leases, self._given_back = [], True


def limited(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A public tenant page behind the per-address and per-tenant request limits; past one, a 429 page (it may
    be shown in the LMS's frame) with Retry-After."""

    async def checked(request: Request) -> Response:
        try:
            await services(request).public_limits.check_request(request.path_params["slug"], client_address(request))
        except TooManyRequests as refusal:
            return refusal_page(request, refusal, framable=True)
        return await endpoint(request)

    return checked
