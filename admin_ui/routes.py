"""Every admin UI route, each wrapped in the console middleware (form size cap, CSRF, session sign-in)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from admin_ui import accounts, console, operator
from admin_ui.pages import STATIC_DIRECTORY, render
from admin_ui.security import console_middleware
from broker.settings import Settings


async def front_page(request: Request) -> Response:
    return render(request, "front.html", {"title": "LTI Advantage registration and launches for your tool"})


def routes(settings: Settings) -> list[BaseRoute]:
    middleware = console_middleware(settings)
    pages: list[Route] = [
        Route("/", front_page, methods=["GET"], name="front_page"),
        *accounts.routes,
        *console.routes,
        *operator.routes,
    ]
    wrapped: list[BaseRoute] = [
        Route(page.path, page.endpoint, methods=page.methods, name=page.name, middleware=middleware) for page in pages
    ]
    return [*wrapped, Mount("/static", app=StaticFiles(directory=STATIC_DIRECTORY), name="static")]
