"""The application factory: wires settings, database, the guarded client, services and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from broker import background, demo_tool, jwks
from broker.api import api_keys as api_api_keys
from broker.api import attempts as api_attempts
from broker.api import deep_linking as api_deep_linking
from broker.api import deliveries as api_deliveries
from broker.api import deployments as api_deployments
from broker.api import events as api_events
from broker.api import keys as api_signing_keys
from broker.api import openapi as api_openapi
from broker.api import registration_records as api_registration_records
from broker.api import registrations as api_registrations
from broker.api import service_tokens as api_service_tokens
from broker.api import tenant as api_tenant
from broker.api import webhooks as api_webhooks
from broker.api.problems import ApiProblem
from broker.api.problems import problem_response as api_problem_response
from broker.api.rate_limit import RateLimiter
from broker.database import Database
from broker.http_client import GuardedClient
from broker.key_rotation import KeyRotationService
from broker.launch import routes as launch_routes
from broker.launch.deep_linking_service import DeepLinkingService
from broker.launch.directory import LaunchDirectory
from broker.launch.platform_keys import PlatformKeys
from broker.launch.service import LaunchService
from broker.middleware import SecurityHeadersMiddleware
from broker.refusals import Refusal, problem_response, refusal_page
from broker.registration import routes as registration_routes
from broker.registration.service import RegistrationService
from broker.services import Services
from broker.settings import Settings
from broker.tokens.service import TokenService
from tenants.api_keys import ApiKeyService
from tenants.encryption import SecretBox
from tenants.keys import KeyRing
from tenants.services import TenantService

logger = logging.getLogger("broker")


USER_AGENT = "lti-broker/0.1"


def create_services(settings: Settings) -> Services:
    """The services of one process (a server, a CLI command, a worker), sharing one database and one client."""
    database = Database(settings.database_url)
    client = GuardedClient(
        user_agent=USER_AGENT,
        allow_insecure=settings.allow_insecure_platforms,
        total_timeout=settings.outbound_timeout,
        connect_timeout=min(5.0, settings.outbound_timeout),
        read_timeout=settings.outbound_timeout,
    )
    secret_box = SecretBox(settings.secret_key)
    key_ring = KeyRing(database, secret_box)
    directory = LaunchDirectory(database)
    return Services(
        settings=settings,
        database=database,
        client=client,
        secret_box=secret_box,
        key_ring=key_ring,
        tenants=TenantService(database, settings, secret_box, key_ring),
        registrations=RegistrationService(database, settings, client),
        launches=LaunchService(database, settings, key_ring, PlatformKeys(client), directory),
        deep_linking=DeepLinkingService(settings, key_ring, directory),
        tokens=TokenService(database, settings, client, secret_box, key_ring),
        api_keys=ApiKeyService(database),
        key_rotation=KeyRotationService(database, settings, secret_box, key_ring),
        rate_limiter=RateLimiter(settings.api_rate_limit),
    )


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    if _is_api(request):
        title = "Not found" if status == 404 else "Method not allowed"
        detail = f"{request.method} {request.url.path} is not an API route."
        return problem_response(Refusal(detail, status_code=status, title=title))
    refusal = Refusal(
        "There is nothing here.",
        status_code=status,
        title="Page not found" if status == 404 else "Method not allowed",
        next_step="Check the address; registration URLs look like /t/<tool>/lti/register.",
    )
    return refusal_page(request, refusal)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return problem_response(exc) if _is_api(request) else refusal_page(request, exc)


async def _api_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return api_problem_response(exc)


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if _is_api(request):
        detail = "Try again; if it persists, contact support."
        return problem_response(Refusal(detail, status_code=500, title="Internal error"))
    refusal = Refusal(
        "The request could not be completed.",
        status_code=500,
        title="Something went wrong on our side",
        next_step="Try again in a minute; if it keeps failing, contact the tool's vendor.",
    )
    return refusal_page(request, refusal)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_environ()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = create_services(settings)
        app.state.services = services
        # Until every route reads its services through broker.services.services(), they are also set by name.
        for name, value in vars(services).items():
            setattr(app.state, name, value)
        try:
            async with background.running(services):
                yield
        finally:
            await services.close()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        *jwks.routes,
        *registration_routes.routes,
        *launch_routes.routes,
        *api_registrations.routes,
        *api_registration_records.routes,
        *api_tenant.routes,
        *api_service_tokens.routes,
        *api_deep_linking.routes,
        *api_deployments.routes,
        *api_attempts.routes,
        *api_events.routes,
        *api_deliveries.routes,
        *api_webhooks.routes,
        *api_api_keys.routes,
        *api_signing_keys.routes,
        *api_openapi.routes,
    ]
    if not settings.is_production:
        routes.extend(demo_tool.routes)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeadersMiddleware)],
        exception_handlers={
            404: _not_found, 405: _not_found, 500: _server_error,
            Refusal: _refused, ApiProblem: _api_problem,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
