"""Where a tenant's public routes live: on its own host name, on <slug>.BROKER_TENANT_DOMAIN, or under
/t/<slug> on the base host. The one place that builds a tenant's URLs.

A tenant's URLs are advertised (registration URL, JWKS URL, the registration request's URLs) on its host
when it has one: its custom host name first, then its subdomain. Requests reach it on any of them, and on its
/t/<slug> paths on the base host, so a registration keeps working on the URLs it was made with.
The launch token's `iss` is not one of these: it stays `Settings.tenant_url(slug)` in every mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from broker.hostnames import HostnameError, is_within, normalise_hostname
from broker.settings import Settings
from tenants.models import ReadOnlyTenant, Tenant

REGISTRATION_PATH = "/lti/register"
LOGIN_PATH = "/lti/login"
LAUNCH_PATH = "/lti/launch"
JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class TenantSite:
    """A tenant's public URLs under one prefix: `https://acme.lti.example.com` or `https://base/t/acme`."""

    slug: str
    base: str

    def url(self, path: str = "") -> str:
        return self.base + path

    @property
    def path_prefix(self) -> str:
        """The prefix's path: "" on a tenant host, "/t/<slug>" on the base host."""
        return urlsplit(self.base).path

    @property
    def domain(self) -> str:
        """Host and port: the `domain` of the tool configuration sent to platforms."""
        return urlsplit(self.base).netloc

    @property
    def registration_url(self) -> str:
        return self.url(REGISTRATION_PATH)

    @property
    def jwks_url(self) -> str:
        return self.url(JWKS_PATH)

    @property
    def launch_url(self) -> str:
        return self.url(LAUNCH_PATH)


def path_site(settings: Settings, slug: str) -> TenantSite:
    """The tenant under /t/<slug> on the base host (always served)."""
    return TenantSite(slug, settings.tenant_url(slug))


def host_site(settings: Settings, slug: str, hostname: str) -> TenantSite:
    """The tenant on a host of its own, with the base URL's scheme and port."""
    base = urlsplit(settings.base_url)
    port = f":{base.port}" if base.port else ""
    return TenantSite(slug, f"{base.scheme}://{hostname}{port}")


def tenant_site(settings: Settings, slug: str, hostname: str | None) -> TenantSite:
    """Where the tenant's URLs are advertised: its host name, else its subdomain, else its path."""
    if hostname:
        return host_site(settings, slug, hostname)
    if settings.tenant_domain:
        return host_site(settings, slug, f"{slug}.{settings.tenant_domain}")
    return path_site(settings, slug)


def site_of(settings: Settings, tenant: ReadOnlyTenant) -> TenantSite:
    """Where a tenant's URLs are advertised (see `tenant_site`)."""
    return tenant_site(settings, tenant.slug, tenant.hostname)


def serving_sites(settings: Settings, tenant: Tenant, hostnames: list[str]) -> list[TenantSite]:
    """Every site that serves the tenant, the advertised one first: its own names (`hostnames`, every one it
    has had), its subdomain, its path on the base host."""
    sites = [site_of(settings, tenant)]
    candidates = [host_site(settings, tenant.slug, name) for name in hostnames]
    if settings.tenant_domain:
        candidates.append(host_site(settings, tenant.slug, f"{tenant.slug}.{settings.tenant_domain}"))
    candidates.append(path_site(settings, tenant.slug))
    sites += [site for site in candidates if site not in sites]
    return sites


def subdomain_slug(settings: Settings, host: str) -> str | None:
    """The slug a host names as <slug>.BROKER_TENANT_DOMAIN (one label), else None."""
    if not settings.tenant_domain or not host.endswith("." + settings.tenant_domain):
        return None
    label = host[: -len(settings.tenant_domain) - 1]
    return label if label and "." not in label else None


def check_custom_hostname(settings: Settings, value: str) -> str:
    """A tenant's own host name in its one spelling; HostnameError when it is not one the broker can give.

    Names under BROKER_TENANT_DOMAIN are the tenants' subdomains and the base host serves everything else, so
    neither can be a tenant's own name: a host then names at most one tenant, one way.
    """
    name = normalise_hostname(value)
    if name == settings.base_host:
        raise HostnameError(f"{name!r} is the broker's own host (BROKER_BASE_URL); give the tenant a name of its own")
    if settings.tenant_domain and is_within(name, settings.tenant_domain):
        raise HostnameError(
            f"{name!r} is under BROKER_TENANT_DOMAIN ({settings.tenant_domain}), where every tenant already has "
            "<slug>.<domain>; give a name outside it, such as lti.your-company.com"
        )
    return name
