"""The application factory: wires settings, database, the guarded client, services and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
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
from broker.api.problems import ApiProblem, problem_response
from broker.api.rate_limit import RateLimiter
from broker.database import Database
from broker.http_client import GuardedClient
from broker.launch import routes as launch_routes
from broker.launch.directory import LaunchDirectory
from broker.launch.platform_keys import PlatformKeys
from broker.launch.service import LaunchService
from broker.middleware import SecurityHeadersMiddleware
from broker.pages import error_page
from broker.registration import routes as registration_routes
from broker.registration.service import RegistrationService
from broker.settings import Settings
from broker.tokens.service import TokenService
from tenants.api_keys import ApiKeyService
from tenants.encryption import SecretBox
from tenants.keys import KeyRing
from tenants.rotation import KeyRotationService
from tenants.services import TenantService

logger = logging.getLogger("broker")

USER_AGENT = "lti-broker/0.1"


@dataclass
class Services:
    """Everything a request handler may need, created once per process."""

    settings: Settings
    database: Database
    client: GuardedClient
    secret_box: SecretBox
    key_ring: KeyRing
    tenants: TenantService
    registrations: RegistrationService
    launches: LaunchService
    tokens: TokenService
    api_keys: ApiKeyService
    key_rotation: KeyRotationService
    rate_limiter: RateLimiter

    @classmethod
    def create(cls, settings: Settings) -> Services:
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
        return cls(
            settings=settings,
            database=database,
            client=client,
            secret_box=secret_box,
            key_ring=key_ring,
            tenants=TenantService(database, settings, secret_box, key_ring),
            registrations=RegistrationService(database, settings, client),
            launches=LaunchService(database, settings, key_ring, PlatformKeys(client), LaunchDirectory(database)),
            tokens=TokenService(database, settings, client, secret_box, key_ring),
            api_keys=ApiKeyService(database),
            key_rotation=KeyRotationService(database, settings, secret_box, key_ring),
            rate_limiter=RateLimiter(settings.api_rate_limit),
        )

    async def close(self) -> None:
        await self.client.aclose()
        await self.database.dispose()


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    if request.url.path.startswith("/api/"):
        title = "Not found" if status == 404 else "Method not allowed"
        return problem_response(ApiProblem(status, title, f"{request.method} {request.url.path} is not an API route."))
    return error_page(
        request,
        status_code=status,
        title="Page not found" if status == 404 else "Method not allowed",
        detail="There is nothing here.",
        next_step="Check the address; registration URLs look like /t/<tool>/lti/register.",
    )


async def _api_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return problem_response(exc)


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if request.url.path.startswith("/api/"):
        return JSONResponse(
            {"title": "Internal error", "status": 500, "detail": "Try again; if it persists, contact support."},
            status_code=500,
            media_type="application/problem+json",
        )
    return error_page(
        request,
        status_code=500,
        title="Something went wrong on our side",
        detail="The request could not be completed.",
        next_step="Try again in a minute; if it keeps failing, contact the tool's vendor.",
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_environ()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = Services.create(settings)
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
        exception_handlers={404: _not_found, 405: _not_found, 500: _server_error, ApiProblem: _api_problem},
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
