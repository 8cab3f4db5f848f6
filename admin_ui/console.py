"""The tenant console (`/console/`): a signed-in vendor account sees and runs only the tenants it belongs to."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from admin_ui.forms import client_address, form_values
from admin_ui.pages import refusal_page, render
from broker.refusals import Refusal
from broker.services import services
from broker.settings import settings_of
from tenants.accounts.audit import Actor
from tenants.accounts.service import AccountError, NotAllowed, Role, TenantRole


class NotYourTenant(Refusal):
    # The same answer whether the tenant exists or not: nobody learns of tenants they are not a member of.
    status_code = 404
    title = "No such tenant in your account"
    next_step = "Open your console to see the tenants you belong to; an owner can invite you to theirs."


class OwnersOnly(Refusal):
    status_code = 403
    title = "Only owners can do this"
    next_step = "Ask one of the tenant's owners (see Members) to do it, or to make you an owner."

    def __init__(self, what: str) -> None:
        super().__init__(f"You are a member of this tenant; {what} is for its owners.")


TenantPage = Callable[[Request, TenantRole], Awaitable[Response]]


def tenant_page(endpoint: TenantPage) -> Callable[[Request], Awaitable[Response]]:
    """A page of the tenant named by the URL's `{slug}`, for its members only; the endpoint gets the membership.
    A Refusal it raises is shown in the consoles' layout."""

    @requires("vendor", redirect="login")
    @functools.wraps(endpoint)
    async def page(request: Request) -> Response:
        try:
            try:
                membership = await services(request).accounts.role_in(
                    request.user.account.id, request.path_params["slug"]
                )
            except NotAllowed as error:
                raise NotYourTenant("You are not a member of a tenant with this address.") from error
            return await endpoint(request, membership)
        except Refusal as refusal:
            return refusal_page(request, refusal)

    return page


def _context(membership: TenantRole, title: str, **values: Any) -> dict[str, Any]:
    return {"title": title, "tenant": membership.tenant, "role": membership.role, **values}


@requires("vendor", redirect="login")
async def index(request: Request) -> Response:
    memberships = await services(request).accounts.memberships(request.user.account.id)
    if len(memberships) == 1:
        return RedirectResponse(f"/console/{memberships[0].tenant.slug}/", status_code=303)
    return render(request, "console/index.html", {"title": "Your tenants", "memberships": memberships})


@tenant_page
async def overview(request: Request, membership: TenantRole) -> Response:
    registration_url = settings_of(request).tenant_url(membership.tenant.slug, "/lti/register")
    context = _context(membership, membership.tenant.name, registration_url=registration_url)
    return render(request, "console/overview.html", context)


@tenant_page
async def members(request: Request, membership: TenantRole) -> Response:
    accounts = services(request).accounts
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    invited = mail_error = None
    status_code = 200
    if request.method == "POST":
        if membership.role is not Role.OWNER:
            raise OwnersOnly("inviting people")
        values = await form_values(request, "email", "role")
        try:
            actor = Actor(request.user.account, client_address(request))
            mail_error = await accounts.invite(actor, membership.tenant.id, values["email"], values["role"])
            invited, values = values["email"].strip().lower(), {}
        except AccountError as error:
            errors, status_code = error.errors, 400
        except NotAllowed as error:
            raise OwnersOnly("inviting people") from error
    context = _context(
        membership, f"Members of {membership.tenant.name}", members=await accounts.members(membership.tenant.id),
        errors=errors, values=values, invited=invited, mail_error=mail_error,
    )  # fmt: skip
    return render(request, "console/members.html", context, status_code=status_code)


routes = [
    Route("/console/", index, methods=["GET"], name="console"),
    Route("/console/{slug}/", overview, methods=["GET"], name="console_overview"),
    Route("/console/{slug}/members", members, methods=["GET", "POST"], name="console_members"),
]
