"""Which tenant a request's `Host` names: the one place that decides, and the site the request reached.

* The base host (BROKER_BASE_URL's) serves everything: the API, the consoles, and each tenant's public routes
  under /t/<slug>.
* <slug>.BROKER_TENANT_DOMAIN, and every host name a tenant has had (its own name), serve that tenant's public
  routes (registration, login, launch, JWKS) at the root, and nothing else: the API, the consoles and /t/<slug>
  paths answer 404 there. The same route functions serve both forms; the slug arrives as a path parameter in
  either.
* Any other host: a 404 page when BROKER_TENANT_DOMAIN is set; without it, the base host's routes, as before
  tenant hosts existed. Probes and scrapers (/healthz, /readyz, /metrics) answer on every host: they address the
  process, often by its IP address.

A name under BROKER_TENANT_DOMAIN is only ever read as a subdomain (no tenant may take one as its own name), so
a host names at most one tenant.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import select
from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match, NoMatchFound, Route, Router
from starlette.types import Receive, Scope, Send

from broker.hostnames import HostnameError, normalise_hostname
from broker.services import services
from broker.settings import Settings, settings_of
from tenants.hosts import TenantSite, host_site, path_site, subdomain_slug
from tenants.keys import KEY_RING_TTL
from tenants.models import Tenant, TenantHostname

# The request's host when it reached a tenant on a host of its own (absent on the base host).
TENANT_HOST = "broker.tenant_host"
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
TENANT_PATHS = "/t/{slug}"
MAX_REMEMBERED = 4096
# A host name no tenant has is looked up again after this long: a name a tenant just took works that soon.
UNKNOWN_HOST_TTL = 2.0


def request_host(scope: Scope) -> str:
    """The `Host` header's name: lower-cased, without port or the root's trailing dot."""
    return host_name(_host_header(scope))


def _host_header(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return bytes(value)
    return b""


def host_name(header: bytes) -> str:
    """A `Host` header's name: lower-cased, without port or the root's trailing dot."""
    host = header.decode("latin-1").strip().lower()
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


@lru_cache(maxsize=1024)
def could_be_hostname(host: str) -> bool:
    """Whether a Host could be a tenant's own name (remembered: the same few hosts come on every request)."""
    try:
        return normalise_hostname(host) == host
    except HostnameError:
        return False


def under_tenant_paths(tenant_routes: Sequence[BaseRoute]) -> list[Route]:
    """The tenant routes as the base host serves them, under /t/{slug}: the same endpoints, prefixed (plain
    routes rather than a Mount, one matching step less on the JWKS route, the busiest there is)."""
    prefixed = []
    for route in tenant_routes:
        assert isinstance(route, Route), "a tenant route is a plain Route"
        prefixed.append(Route(TENANT_PATHS + route.path, route.endpoint, methods=route.methods, name=route.name))
    return prefixed


class HostRouting(BaseRoute):
    """The application's first route. A request on the base host (or to a probe) passes on to the routes after it,
    the base host's; every other host is decided here (see the module doc)."""

    def __init__(self, settings: Settings, routes: Sequence[BaseRoute], tenant_routes: Sequence[BaseRoute]) -> None:
        self.settings = settings
        self.base = Router(list(routes))  # for a host that names no tenant, without BROKER_TENANT_DOMAIN
        self.tenant = Router(list(tenant_routes))
        self._found: dict[str, tuple[float, str | None]] = {}
        # Whether a Host header's value is decided here, by the value as sent: every request asks (the key set
        # route's most of all), and the same few values come again and again.
        self._decided_here: dict[bytes, bool] = {}

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in PROBES:
            return Match.NONE, {}
        return (Match.NONE if self.on_base_host(scope) else Match.FULL), {}

    def on_base_host(self, scope: Scope) -> bool:
        """Whether the request's routes are the base host's (the routes after this one), by its `Host`."""
        header = _host_header(scope)
        here = self._decided_here.get(header)
        if here is None:
            here = self._decides(host_name(header))
            if len(self._decided_here) >= MAX_REMEMBERED:
                self._decided_here.clear()  # made-up Host headers cannot grow it without bound
            self._decided_here[header] = here
        return not here

    def _decides(self, host: str) -> bool:
        if host == self.settings.base_host:
            return False
        # Without BROKER_TENANT_DOMAIN, an IP address or `localhost` gets the base host's routes, as before tenant
        # hosts existed.
        return bool(self.settings.tenant_domain) or could_be_hostname(host)

    def url_path_for(self, name: str, /, **path_params: str) -> URLPath:
        raise NoMatchFound(name, path_params)  # every named route is among the base host's

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = request_host(scope)
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
        """The slug of the tenant that has (or had) this host name. Answers are kept a few seconds, so a host
        sent on every request (a proxy's own name) costs one lookup per few seconds; at most MAX_REMEMBERED."""
        if not could_be_hostname(host):
            return None  # an IP address, `localhost`, no Host at all: never a tenant's name, no lookup
        remembered = self._found.get(host)
        if remembered is not None and remembered[0] > time.monotonic():
            return remembered[1]
        async with services(HTTPConnection(scope)).database.session() as session:
            slug = await session.scalar(
                select(Tenant.slug)
                .join(TenantHostname, TenantHostname.tenant_id == Tenant.id)
                .where(TenantHostname.hostname == host)
            )
        if len(self._found) >= MAX_REMEMBERED:
            self._found.clear()  # made-up Host headers cannot grow it without bound
        self._found[host] = (time.monotonic() + (KEY_RING_TTL if slug else UNKNOWN_HOST_TTL), slug)
        return slug
