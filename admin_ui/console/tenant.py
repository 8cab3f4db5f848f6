"""What every tenant console page shares: only members reach a tenant's pages; some actions are for owners."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import Response

from admin_ui.forms import client_address
from admin_ui.pages import refusal_page
from broker.refusals import Refusal
from broker.services import services
from tenants.accounts.audit import Actor
from tenants.accounts.service import NotAllowed, Role, TenantRole


class NotYourTenant(Refusal):
    # The same answer whether the tenant exists or not: nobody learns of tenants they are not a member of.
    status_code = 404
    title = "No such tenant in your account"
    next_step = "Open your console to see the tenants you belong to; an owner can invite you to theirs."


class NotInThisTenant(Refusal):
    # Another tenant's registration, key or event is answered exactly like one that does not exist.
    status_code = 404
    title = "Not found in this tenant"
    next_step = "Go back to the list; the link may be old, or belong to another tenant."


class OwnersOnly(Refusal):
    status_code = 403
    title = "Only owners can do this"
    next_step = "Ask one of the tenant's owners (see Members) to do it, or to make you an owner."

    @classmethod
    def doing(cls, what: str) -> OwnersOnly:
        return cls(f"You are a member of this tenant; {what} is for its owners.")


TenantPage = Callable[[Request, TenantRole], Awaitable[Response]]


def tenant_page(endpoint: TenantPage) -> Callable[[Request], Awaitable[Response]]:
    """A page of the tenant named by the URL's `{slug}`, for its members only; the endpoint gets the membership.
    A Refusal it raises is shown in the consoles' layout."""

    @requires("vendor", redirect="login")
    @functools.wraps(endpoint)
    async def page(request: Request) -> Response:
        try:
            membership = await services(request).accounts.role_in(request.user.account.id, request.path_params["slug"])
        except NotAllowed:
            return refusal_page(request, NotYourTenant("You are not a member of a tenant with this address."))
        try:
            return await endpoint(request, membership)
        except NotAllowed as error:
            return refusal_page(request, OwnersOnly(str(error)))
        except Refusal as refusal:
            return refusal_page(request, refusal)

    return page


def page_context(membership: TenantRole, title: str, **values: Any) -> dict[str, Any]:
    return {"title": title, "tenant": membership.tenant, "role": membership.role, **values}


def require_owner(membership: TenantRole, what: str) -> None:
    if membership.role is not Role.OWNER:
        raise OwnersOnly.doing(what)


def actor(request: Request) -> Actor:
    return Actor(request.user.account, client_address(request))
