"""Every admin UI route, each wrapped in the console middleware (form size cap, CSRF, session sign-in)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from admin_ui import accounts, console, demo_lms, operator
from admin_ui.pages import STATIC_DIRECTORY, render
from admin_ui.security import console_middleware
from broker.settings import Settings, settings_of


async def front_page(request: Request) -> Response:
    context = {
        "title": "LTI Advantage registration and launches for your tool",
        "try_it": not settings_of(request).is_production,
    }
    return render(request, "front.html", context)


def routes(settings: Settings) -> list[BaseRoute]:
    middleware = console_middleware(settings)
    pages: list[Route] = [
        Route("/", front_page, methods=["GET"], name="front_page"),
        *accounts.routes,
        *console.routes,
        *operator.routes,
        *([] if settings.is_production else [demo_lms.TRY_PAGE]),
    ]
    wrapped: list[BaseRoute] = [
        Route(page.path, page.endpoint, methods=page.methods, name=page.name, middleware=middleware) for page in pages
    ]
    static = Mount("/static", app=StaticFiles(directory=STATIC_DIRECTORY), name="static")
    return [*wrapped, *demo_lms.routes(settings), static]
