"""The operator console (`/admin/`): tenants (search, suspend, resume), failed registration attempts across
tenants, webhook delivery backlog, and the development mail outbox; operator accounts only."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from admin_ui.forms import client_address
from admin_ui.pages import refusal_page, render
from broker.refusals import Refusal
from broker.registration.attempts import recent_attempts
from broker.registration.models import FAILURES
from broker.registration.representation import attempt_item
from broker.services import services
from broker.settings import settings_of
from broker.webhooks.queries import outbox_depth
from tenants.accounts.audit import Actor

RECENT_FAILURES = 20


class NoSuchTenant(Refusal):
    status_code = 404
    title = "No such tenant"
    next_step = "Search for the tenant on the operator console's front page."


def operator_page(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A page for operators only; a Refusal it raises is shown in the consoles' layout."""

    @requires("operator", redirect="operator_login")
    @functools.wraps(endpoint)
    async def page(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Refusal as refusal:
            return refusal_page(request, refusal)

    return page


@operator_page
async def index(request: Request) -> Response:
    query = request.query_params.get("q", "")[:200]
    database = services(request).database
    context = {
        "title": "Operator console",
        "query": query,
        "tenants": await services(request).tenants.search(query),
        "failures": [
            {**attempt_item(row), "tenant": slug}
            for row, slug in await recent_attempts(database, statuses=FAILURES, limit=RECENT_FAILURES)
        ],
        "outbox": await outbox_depth(database),
    }  # fmt: skip
    return render(request, "admin/index.html", context)


@operator_page
async def suspension(request: Request) -> Response:
    action = request.path_params["action"]
    if action not in ("suspend", "resume"):
        raise NoSuchTenant(f"There is no action {action!r}; a tenant can be suspended or resumed.")
    suspend = action == "suspend"
    tenant = await services(request).tenants.get_by_slug(request.path_params["slug"])
    if tenant is None:
        raise NoSuchTenant("There is no tenant with this slug.")
    tenant = await services(request).tenants.set_suspended(tenant.id, suspend)
    await services(request).accounts.audit.record(
        Actor(request.user.account, client_address(request)),
        "tenant.suspended" if suspend else "tenant.resumed",
        tenant_id=tenant.id,
    )
    return RedirectResponse(f"/admin/?q={tenant.slug}", status_code=303)


@operator_page
async def mail_outbox(request: Request) -> Response:
    settings = settings_of(request)
    mails = [] if settings.is_production else await services(request).mailer.development_outbox()
    context = {"title": "Mail outbox", "mails": mails, "production": settings.is_production}
    return render(request, "admin/mail.html", context)


routes = [
    Route("/admin/", index, methods=["GET"], name="operator_console"),
    Route("/admin/tenants/{slug}/{action:str}", suspension, methods=["POST"]),
    Route("/admin/mail", mail_outbox, methods=["GET"], name="operator_mail"),
]
