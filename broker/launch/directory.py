"""What launches need to know about tenants and registrations, cached in this process for a few seconds.

Every login and launch reads the same tenant and registration rows; reading them once per `ttl` instead of
per request is most of the database work a launch would otherwise do. Like the key ring, a change made by
another broker process (a disabled registration, a new tool URL) reaches this one within `ttl` seconds.
Only rows that exist are cached, so a platform registered a moment ago is found at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import select

from broker.database import Database
from broker.launch.login_origin import platform_hosts
from broker.registration.endpoints import called_endpoint
from broker.registration.models import Registration
from tenants.encryption import SecretBox
from tenants.keys import KEY_RING_TTL
from tenants.models import Tenant

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class TenantView:
    id: str
    slug: str
    name: str
    tool_url: str | None
    accept_new_deployments: bool
    suspended: bool = False


@dataclass(frozen=True)
class RegistrationView:
    id: str
    tenant_id: str
    issuer: str
    client_id: str
    status: str
    authorization_endpoint: str | None
    jwks_uri: str
    deployment_ids: frozenset[str]
    launched: bool
    key_set: str | None = None  # the platform-bound key set it signs with; None: the tenant's own key
    # Hosts whose pages may start a login that goes straight on (broker.launch.login_origin).
    login_hosts: frozenset[str] = frozenset()
    learnt_login_hosts: tuple[str, ...] = ()


class _Expiring(Generic[K, V]):
    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (time.monotonic() + self._ttl, value)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)


class LaunchDirectory:
    def __init__(self, database: Database, secret_box: SecretBox, ttl: float = KEY_RING_TTL) -> None:
        self._database = database
        self._secret_box = secret_box
        self._tenants: _Expiring[str, TenantView] = _Expiring(ttl)
        self._by_issuer: _Expiring[tuple[str, str], tuple[RegistrationView, ...]] = _Expiring(ttl)
        self._by_id: _Expiring[str, RegistrationView] = _Expiring(ttl)

    async def tenant(self, slug: str) -> TenantView | None:
        view = self._tenants.get(slug)
        if view is None:
            async with self._database.session() as session:
                row = await session.scalar(select(Tenant).where(Tenant.slug == slug))
            if row is None:
                return None
            view = TenantView(
                row.id, row.slug, row.name, row.tool_url, row.accept_new_deployments, row.suspended_at is not None
            )
            self._tenants.put(slug, view)
        return view

    async def registrations(self, tenant_id: str, issuer: str) -> tuple[RegistrationView, ...]:
        """The tenant's registrations with this issuer, matched with or without a trailing slash.

        Only for finding the registration at login, where platforms differ on the slash; the id_token's `iss` is
        checked byte for byte.
        """
        bare = issuer.rstrip("/")
        views = self._by_issuer.get((tenant_id, bare))
        if views is None:
            async with self._database.session() as session:
                rows = await session.scalars(
                    select(Registration)
                    .where(Registration.tenant_id == tenant_id, Registration.issuer.in_((bare, bare + "/")))
                    .order_by(Registration.id)
                )
                views = tuple(_view(row, self._secret_box) for row in rows)
            if not views:
                return ()
            self._by_issuer.put((tenant_id, bare), views)
        return views

    async def held_by_another_tenant(self, tenant_id: str, issuer: str, client_id: str) -> bool:
        """Whether another tenant holds this platform client (read on the refusal path only, never cached)."""
        bare = issuer.rstrip("/")
        async with self._database.session() as session:
            found = await session.scalar(
                select(Registration.id).where(
                    Registration.issuer.in_((bare, bare + "/")),
                    Registration.client_id == client_id,
                    Registration.tenant_id != tenant_id,
                )
            )
        return found is not None

    async def registration(self, registration_id: str) -> RegistrationView | None:
        view = self._by_id.get(registration_id)
        if view is None:
            async with self._database.session() as session:
                row = await session.get(Registration, registration_id)
                if row is None:
                    return None
                view = _view(row, self._secret_box)
            self._by_id.put(registration_id, view)
        return view

    def forget(self, registration: RegistrationView) -> None:
        """Drop what this process just changed, so its next launch reads the new row."""
        self._by_id.pop(registration.id)
        self._by_issuer.pop((registration.tenant_id, registration.issuer.rstrip("/")))


def _view(row: Registration, box: SecretBox) -> RegistrationView:
    return RegistrationView(
        id=row.id,
        tenant_id=row.tenant_id,
        issuer=row.issuer,
        client_id=row.client_id,
        status=row.status,
        # The exact URLs, to call them (the columns may hold display copies).
        authorization_endpoint=called_endpoint(row, "authorization_endpoint", box),
        jwks_uri=called_endpoint(row, "jwks_uri", box) or row.jwks_uri,
        deployment_ids=frozenset(deployment.deployment_id for deployment in row.deployments),
        launched=row.launched_at is not None,
        key_set=row.key_set,
        login_hosts=platform_hosts(
            (row.issuer, row.authorization_endpoint, row.token_endpoint, row.jwks_uri, row.registration_endpoint),
            row.login_hosts or (),
        ),
        learnt_login_hosts=tuple(row.login_hosts or ()),
    )
