"""The API as one ASGI app, mounted at /api/v1: every operation's route, and its own answers to everything
that goes wrong inside it, all problem details JSON (an unknown path or method included)."""

from __future__ import annotations

import logging
import re
from functools import cache
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Router
from starlette.types import Receive, Scope, Send

from broker.api import (
    api_keys,
    attempts,
    deep_linking,
    deliveries,
    events,
    keys,
    registrations,
    service_tokens,
    tenant,
    webhooks,
)
from broker.api.openapi import openapi_document
from broker.api.operations import Operation, Operations
from broker.refusals import Refusal, problem_response
from broker.settings import settings_of

logger = logging.getLogger("broker.api")

documentation = Operations()


@documentation.get("/openapi.json", "This document", public=True)
async def openapi(request: Request) -> dict[str, Any]:
    return _document(settings_of(request).base_url)


OPERATIONS: tuple[Operation, ...] = tuple(
    operation
    for module_operations in (
        registrations.operations,
        service_tokens.operations,
        attempts.operations,
        events.operations,
        deliveries.operations,
        webhooks.operations,
        api_keys.operations,
        keys.operations,
        tenant.operations,
        deep_linking.operations,
        documentation,
    )
    for operation in module_operations.all
)


@cache
def _document(server_url: str) -> dict[str, Any]:
    return openapi_document(OPERATIONS, server_url)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return problem_response(exc, request)


async def _no_such_route(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Refused")
    detail = f"{request.method} {request.url.path} is not an API route."
    return problem_response(Refusal(detail, status_code=exc.status_code, title=title, headers=exc.headers), request)


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    refusal = Refusal(
        "The request could not be completed.",
        status_code=500,
        title="Internal error",
        next_step="Try again; if it keeps failing, contact support.",
    )
    return problem_response(refusal, request)


class Api:
    """The mounted app: its router, wrapped in its own exception handlers."""

    def __init__(self, operations: tuple[Operation, ...]) -> None:
        self.router = Router(routes=[operation.route() for operation in operations])
        self._app = ExceptionMiddleware(
            self.router, handlers={Refusal: _refused, HTTPException: _no_such_route, Exception: _server_error}
        )

    @property
    def routes(self) -> list[BaseRoute]:
        """For `Mount.routes`, so the API's routes are listed and reversible like any others."""
        return self.router.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


class _ApiMount(Mount):
    """A mount that also takes paths with a line break in them (`%0A` in an id), which Starlette's `.*` would
    leave to the site's HTML 404 page."""

    def __init__(self, path: str, app: Api) -> None:
        super().__init__(path, app=app)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


def api_mount() -> Mount:
    """The API, mounted at /api/v1."""
    return _ApiMount("/api/v1", Api(OPERATIONS))
