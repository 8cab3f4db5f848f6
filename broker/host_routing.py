"""Which tenant a request's `Host` names: the one place that decides, and the site the request reached.

* The base host (BROKER_BASE_URL's) serves everything: the API, the consoles, and each tenant's public routes
  under /t/<slug>.
* <slug>.BROKER_TENANT_DOMAIN, and every host name a tenant has had (its own name), serve that tenant's public
  routes (registration, login, launch, JWKS) at the root, and nothing else: the API, the consoles and /t/<slug>
  paths answer 404 there. The same route functions serve both forms; the slug arrives as a path parameter in
  either.
* Any other host: a 404 page when BROKER_TENANT_DOMAIN is set; without it, the base host's routes, as before
  tenant hosts existed. Health probes (/healthz, /readyz) answer on every host: they address the process.

A name under BROKER_TENANT_DOMAIN is only ever read as a subdomain (no tenant may take one as its own name), so
a host names at most one tenant.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import select
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send

from broker.hostnames import HostnameError, normalise_hostname
from broker.settings import Settings, settings_of
from tenants.hosts import TenantSite, host_site, path_site, subdomain_slug
from tenants.keys import KEY_RING_TTL
from tenants.models import Tenant, TenantHostname

# The request's host when it reached a tenant on a host of its own (absent on the base host).
TENANT_HOST = "broker.tenant_host"
PROBES = frozenset({"/healthz", "/readyz"})


def request_host(scope: Scope) -> str:
    """The `Host` header's name: lower-cased, without port or the root's trailing dot."""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1").strip().lower()
            break
    else:
        return ""
    if host.startswith("["):  # an IPv6 literal, maybe with a port
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0].rstrip(".")


def request_site(connection: HTTPConnection) -> TenantSite:
    """Where this request reached its tenant: the tenant's own host, or /t/<slug> on the base host. Login and
    launch build their URLs from it, so a registration keeps working on the host it was made with."""
    settings = settings_of(connection)
    slug = connection.path_params["slug"]
    host = connection.scope.get(TENANT_HOST)
    return host_site(settings, slug, host) if host else path_site(settings, slug)


class HostRouting(BaseRoute):
    """The application's one top-level route: dispatches each request by its host (see the module doc)."""

    def __init__(self, settings: Settings, routes: Sequence[BaseRoute], tenant_routes: Sequence[BaseRoute]) -> None:
        self.settings = settings
        self.base = Router(list(routes))
        self.tenant = Router(list(tenant_routes))
        self._hostnames: dict[str, tuple[float, str]] = {}

    @property
    def routes(self) -> list[BaseRoute]:
        """The base host's routes (the tenant hosts' are among them, under /t/{slug})."""
        return self.base.routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return (Match.FULL, {}) if scope["type"] in ("http", "websocket") else (Match.NONE, {})

    def url_path_for(self, name: str, /, **path_params: str) -> object:
        return self.base.url_path_for(name, **path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = request_host(scope)
        if host == self.settings.base_host or scope.get("path") in PROBES:
            await self.base(scope, receive, send)
            return
        slug = subdomain_slug(self.settings, host) or await self._custom_hostname(scope, host)
        if slug is not None:
            scope["path_params"] = {**scope.get("path_params", {}), "slug": slug}
            scope[TENANT_HOST] = host
            await self.tenant(scope, receive, send)
        elif not self.settings.tenant_domain:
            await self.base(scope, receive, send)
        else:
            raise HTTPException(404)

    async def _custom_hostname(self, scope: Scope, host: str) -> str | None:
        """The slug of the tenant that has (or had) this host name; found names are kept for a few seconds."""
        try:
            normalise_hostname(host)
        except HostnameError:
            return None  # an IP address, `localhost`, no Host at all: never a tenant's name, no lookup
        cached = self._hostnames.get(host)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with scope["app"].state.services.database.session() as session:
            slug = await session.scalar(
                select(Tenant.slug)
                .join(TenantHostname, TenantHostname.tenant_id == Tenant.id)
                .where(TenantHostname.hostname == host)
            )
        if slug is not None:
            self._hostnames[host] = (time.monotonic() + KEY_RING_TTL, slug)
        return slug
