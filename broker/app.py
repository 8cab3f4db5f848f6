"""The application factory: wires settings, database, the guarded client, services and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import admin_ui.routes
from broker import background, demo_tool, health, jwks, log_context, monitoring, start_up_objects
from broker.api.app import api_mount
from broker.database import Database
from broker.host_routing import HostRouting, under_tenant_paths
from broker.http_client import GuardedClient, OutboundOptions, WebhookPoster
from broker.key_rotation import KeyRotationService
from broker.launch import routes as launch_routes
from broker.launch.deep_linking_service import DeepLinkingService
from broker.launch.directory import LaunchDirectory
from broker.launch.platform_keys import PlatformKeys
from broker.launch.service import LaunchService
from broker.limits.api import ApiLimits
from broker.limits.public import PublicLimits
from broker.limits.store import deployment_namespace, open_limit_store
from broker.mail import Mailer
from broker.middleware import BrokerMiddleware
from broker.refusals import Refusal, refusal_page
from broker.registration import routes as registration_routes
from broker.registration.service import RegistrationService
from broker.services import Services
from broker.settings import Settings
from broker.tokens.service import TokenService
from tenants.accounts.service import AccountService
from tenants.api_keys import ApiKeyService
from tenants.encryption import SecretBox
from tenants.key_pool import KeyPool
from tenants.keys import KeyRing
from tenants.platform_bound_keys import PlatformBoundKeys
from tenants.services import TenantService

USER_AGENT = "lti-broker/0.1"


def create_services(settings: Settings) -> Services:
    """The services of one process (a server, a CLI command, a worker), sharing one database and one client."""
    database = Database(settings.database_url)
    # The webhook poster keeps the guarded client's rules and deadlines (see broker/http_client/webhook_poster.py).
    outbound = OutboundOptions(
        user_agent=USER_AGENT,
        allow_insecure=settings.allow_insecure_platforms,
        total_timeout=settings.outbound_timeout,
        connect_timeout=min(5.0, settings.outbound_timeout),
        read_timeout=settings.outbound_timeout,
    )
    client = GuardedClient(outbound)
    poster = WebhookPoster(outbound)
    secret_box = SecretBox(settings.secret_key)
    key_ring = KeyRing(database, secret_box)
    key_pool = KeyPool(database, secret_box)
    directory = LaunchDirectory(database, secret_box)
    tenants = TenantService(database, settings, secret_box, key_ring)
    mailer = Mailer(settings, database)
    limit_store = open_limit_store(database, settings.redis_url, deployment_namespace(settings.database_url))
    return Services(
        settings=settings,
        database=database,
        client=client,
        poster=poster,
        secret_box=secret_box,
        key_ring=key_ring,
        key_pool=key_pool,
        tenants=tenants,
        registrations=RegistrationService(
            database, settings, client, PlatformBoundKeys(database, settings, key_ring, key_pool)
        ),
        launches=LaunchService(database, settings, key_ring, PlatformKeys(client), directory),
        deep_linking=DeepLinkingService(settings, key_ring, directory),
        tokens=TokenService(database, settings, client, secret_box, key_ring),
        api_keys=ApiKeyService(database),
        key_rotation=KeyRotationService(database, settings, secret_box, key_ring),
        limit_store=limit_store,
        api_limits=ApiLimits(limit_store, settings.api_rate_limit),
        public_limits=PublicLimits(limit_store, settings),
        mailer=mailer,
        accounts=AccountService(database, settings, mailer, tenants, limit_store),
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    refusal = Refusal(
        "There is nothing here.",
        status_code=status,
        title="Page not found" if status == 404 else "Method not allowed",
        next_step="Check the address with the tool's vendor; a tool's registration URL ends in /lti/register.",
    )
    return refusal_page(request, refusal)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return refusal_page(request, exc)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Logged by the broker's middleware, with the request's context; this page is sent from outside it.
    refusal = Refusal(
        "The request could not be completed.",
        status_code=500,
        title="Something went wrong on our side",
        next_step="Try again in a minute; if it keeps failing, contact the tool's vendor.",
    )
    response = refusal_page(request, refusal)
    request_id = log_context.request_id(request)
    if request_id:
        response.headers["X-Request-Id"] = request_id
    return response


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
            async with background.running(services, app.state.heartbeat):
                with start_up_objects.kept_out_of_full_collections():
                    yield
        finally:
            await services.close()

    # Launches first, the busiest of a tenant's pages (every click on a link in a course): Starlette tries the routes
    # in order, and none of these paths is another's.
    tenant_routes = [*launch_routes.routes, *jwks.routes, *registration_routes.routes]
    key_set_routes = under_tenant_paths(jwks.routes)
    # The tenant routes first: Starlette tries the routes in order (no path of the others is under /t/).
    routes = [
        *under_tenant_paths(tenant_routes),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", monitoring.metrics_endpoint, methods=["GET"]),
        api_mount(),
        *admin_ui.routes.routes(settings),
    ]
    if not settings.is_production:
        routes.extend(demo_tool.routes)
    host_routing = HostRouting(settings, routes, tenant_routes)
    app = Starlette(
        routes=[host_routing, *routes],
        middleware=[
            Middleware(BrokerMiddleware),
            # The key set, the busiest route there is, skips the router on the base host.
            Middleware(jwks.KeySetShortcut, routes=key_set_routes, on_base_host=host_routing.on_base_host),
        ],
        exception_handlers={
            404: _not_found,
            405: _not_found,
            500: _server_error,
            Refusal: _refused,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.heartbeat = health.Heartbeat(expected=settings.run_worker)
    return app
