"""The console's home: the tenants of an account, a tenant's registration URL (and where each LMS takes it),
and its members and invitations."""

from __future__ import annotations

from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin_ui.console.platforms import PASTE_HERE
from admin_ui.console.tenant import actor, page_context, require_owner, tenant_page
from admin_ui.forms import form_values
from admin_ui.pages import render
from broker.services import services
from broker.settings import settings_of
from tenants.accounts.service import AccountError, TenantRole
from tenants.hosts import serving_sites
from tenants.models import Tenant
from tenants.services import TenantError


@requires("vendor", redirect="login")
async def index(request: Request) -> Response:
    memberships = await services(request).accounts.memberships(request.user.account.id)
    if len(memberships) == 1:
        return RedirectResponse(f"/console/{memberships[0].tenant.slug}/", status_code=303)
    return render(request, "console/index.html", {"title": "Your tenants", "memberships": memberships})


async def _overview_page(request: Request, membership: TenantRole, tenant: Tenant, *, message: str | None = None,
                         errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                         status_code: int = 200) -> Response:  # fmt: skip
    sites = serving_sites(settings_of(request), tenant, await services(request).tenants.hostnames(tenant.id))
    context = page_context(
        membership, tenant.name, registration_url=sites[0].registration_url, lms=PASTE_HERE,
        other_sites=[site.base for site in sites[1:]], hostname=tenant.hostname, message=message,
        errors=errors or {}, values=values or {"hostname": tenant.hostname or ""},
    )  # fmt: skip
    return render(request, "console/overview.html", context, status_code=status_code)


@tenant_page
async def overview(request: Request, membership: TenantRole) -> Response:
    return await _overview_page(request, membership, membership.tenant)


@tenant_page
async def set_hostname(request: Request, membership: TenantRole) -> Response:
    # Where LMSs reach the tool, as `tenants update --hostname` and PATCH /api/v1/tenant set it: owners' to change.
    require_owner(membership, "changing the tool's host name")
    values = await form_values(request, "hostname")
    try:
        tenant = await services(request).tenants.update(membership.tenant.id, {"hostname": values["hostname"].strip()})
    except TenantError as error:
        return await _overview_page(request, membership, membership.tenant, errors={"hostname": error.reason},
                                    values=values, status_code=400)  # fmt: skip
    await services(request).accounts.audit.record(
        actor(request), "tenant.hostname_set", tenant_id=tenant.id, hostname=tenant.hostname
    )
    message = (
        f"New registrations use {tenant.hostname}; point it at this broker (a CNAME) and ask the operator for its "
        "certificate." if tenant.hostname else "New registrations use the broker's own addresses again."
    )
    return await _overview_page(request, membership, tenant, message=message)


@tenant_page
async def members(request: Request, membership: TenantRole) -> Response:
    accounts = services(request).accounts
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    invited = mail_error = None
    status_code = 200
    if request.method == "POST":
        require_owner(membership, "inviting people")
        values = await form_values(request, "email", "role")
        try:
            mail_error = await accounts.invite(actor(request), membership.tenant.id, values["email"], values["role"])
            invited, values = values["email"].strip().lower(), {}
        except AccountError as error:
            errors, status_code = error.errors, 400
    context = page_context(
        membership, f"Members of {membership.tenant.name}", members=await accounts.members(membership.tenant.id),
        errors=errors, values=values, invited=invited, mail_error=mail_error,
    )  # fmt: skip
    return render(request, "console/members.html", context, status_code=status_code)
