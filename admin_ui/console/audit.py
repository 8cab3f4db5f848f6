"""A tenant's audit log in the console: what its people did, newest first."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admin_ui.console.tenant import page_context, tenant_page
from admin_ui.pages import render
from broker.services import services
from tenants.accounts.service import TenantRole


@tenant_page
async def audit_log(request: Request, membership: TenantRole) -> Response:
    events = await services(request).accounts.audit.for_tenant(membership.tenant.id)
    return render(request, "console/audit.html", page_context(membership, "Audit log", events=events))
