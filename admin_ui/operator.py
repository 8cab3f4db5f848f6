"""The operator console (`/admin/`): for the people who run the broker, signed in with operator accounts."""

from __future__ import annotations

from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin_ui.pages import render
from broker.services import services
from broker.settings import settings_of


@requires("operator", redirect="operator_login")
async def index(request: Request) -> Response:
    return render(request, "admin/index.html", {"title": "Operator console"})


@requires("operator", redirect="operator_login")
async def mail_outbox(request: Request) -> Response:
    settings = settings_of(request)
    mails = [] if settings.is_production else await services(request).mailer.development_outbox()
    context = {"title": "Mail outbox", "mails": mails, "production": settings.is_production}
    return render(request, "admin/mail.html", context)


routes = [
    Route("/admin/", index, methods=["GET"], name="operator_console"),
    Route("/admin/mail", mail_outbox, methods=["GET"], name="operator_mail"),
]
