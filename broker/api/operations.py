"""API operations declared once. A handler's signature says what it reads (`query`, `body`, path parameters)
and what it answers (its return type); from that come its route, its authentication, its input checks (a 422
problem naming the field), its serialised answer and its OpenAPI operation.

    @operations.get("/registrations/{id}", "One registration", resource="registration")
    async def registration(caller: Caller, id: str) -> RegistrationItem: ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from pydantic import BaseModel, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, compile_path

from broker.api.auth import authenticated_tenant
from broker.api.pagination import is_id
from broker.api.params import read_body, read_query
from broker.api.problems import NotFound
from broker.services import Services, services
from tenants.models import Tenant

Handler = Callable[..., Awaitable[Any]]
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Caller:
    """The tenant whose API key made the request, and the services that answer it."""

    tenant: Tenant
    services: Services


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # under /api/v1
    summary: str
    handler: Handler
    answer: Any  # the type the handler returns, serialised as the answer's body
    query: type[BaseModel] | None = None
    body: Any = None  # a `Body` model, or a TypedDict
    path_parameters: tuple[str, ...] = ()
    resource: str = "item"  # what a path's id names, for the 404 of an id that cannot be one
    status: int = 200
    refusals: tuple[int, ...] = ()  # the 4xx and 5xx statuses the handler itself may answer
    headers: Mapping[str, str] = field(default_factory=dict)
    public: bool = False  # no API key needed
    wants_request: bool = False  # the handler reads the request itself (the OpenAPI document's server URL)

    @property
    def name(self) -> str:
        return self.handler.__name__

    def route(self) -> Route:
        answer = TypeAdapter(self.answer)

        async def endpoint(request: Request) -> Response:
            arguments: dict[str, Any] = {} if self.public else {"caller": await _caller(request)}
            if self.wants_request:
                arguments["request"] = request
            for name in self.path_parameters:
                if not is_id(request.path_params[name]):
                    raise NotFound(self.resource)
                arguments[name] = request.path_params[name]
            if self.query is not None:
                arguments["query"] = read_query(self.query, request.query_params)
            if self.body is not None:
                arguments["body"] = read_body(self.body, await request.body())
            body = answer.dump_json(await self.handler(**arguments))
            return Response(body, self.status, headers=dict(self.headers), media_type="application/json")

        endpoint.__name__ = self.name
        return Route(self.path, endpoint, methods=[self.method], name=self.name)


async def _caller(request: Request) -> Caller:
    return Caller(await authenticated_tenant(request), services(request))


class Operations:
    """The operations of one API module, collected by their decorators."""

    def __init__(self) -> None:
        self.all: list[Operation] = []

    def get(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._declare("GET", path, summary, options)

    def post(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._declare("POST", path, summary, options)

    def put(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._declare("PUT", path, summary, options)

    def patch(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._declare("PATCH", path, summary, options)

    def delete(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._declare("DELETE", path, summary, options)

    def _declare(
        self, method: str, path: str, summary: str, options: dict[str, Any]
    ) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            hints = get_type_hints(handler)
            self.all.append(
                Operation(
                    method=method,
                    path=path,
                    summary=summary,
                    handler=handler,
                    answer=hints["return"],
                    query=hints.get("query"),
                    body=hints.get("body"),
                    path_parameters=tuple(compile_path(path)[2]),
                    wants_request="request" in hints,
                    **options,
                )
            )
            return handler

        return declare
