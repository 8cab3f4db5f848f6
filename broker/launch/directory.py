"""What launches need to know about tenants and registrations, cached in this process for a few seconds.

Every login and launch reads the same tenant and registration rows; reading them once per `ttl` instead of
per request is most of the database work a launch would otherwise do. Like the key ring, a change made by
another broker process (a suspended tool, a disabled or deleted registration, a new tool URL) reaches this one
within `ttl` seconds. Only rows that exist are cached, so a platform registered a moment ago is found at once,
and each cache holds at most `max_entries` answers (the least recently stored go first), so a broker with
many tenants and registrations keeps its memory bounded. A miss reads only the columns a launch uses, with
statements built once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from broker.database import Database
from broker.expiring import ExpiringCache
from broker.launch.login_origin import platform_hosts
from broker.registration.endpoints import called_endpoint
from broker.registration.models import Deployment, Registration
from tenants.encryption import SecretBox
from tenants.keys import KEY_RING_TTL
from tenants.models import Tenant

# Answers kept per cache: tenants by slug, registrations by id, and registrations by (tenant, issuer).
MAX_ENTRIES = 10_000

_TENANTS = Tenant.metadata.tables[Tenant.__tablename__]
_REGISTRATIONS = Registration.metadata.tables[Registration.__tablename__]
_DEPLOYMENTS = Deployment.metadata.tables[Deployment.__tablename__]
_FIND_TENANT = select(
    _TENANTS.c.id,
    _TENANTS.c.slug,
    _TENANTS.c.name,
    _TENANTS.c.tool_url,
    _TENANTS.c.accept_new_deployments,
    _TENANTS.c.suspended_at,
).where(_TENANTS.c.slug == bindparam("slug"))
_REGISTRATION_COLUMNS = select(
    *(
        _REGISTRATIONS.c[name]
        for name in (
            "id", "tenant_id", "issuer", "client_id", "status", "authorization_endpoint", "token_endpoint",
            "jwks_uri", "registration_endpoint", "endpoint_secrets", "launched_at", "key_set", "login_hosts",
        )
    )
)
_FIND_REGISTRATION = _REGISTRATION_COLUMNS.where(_REGISTRATIONS.c.id == bindparam("registration"))
_FIND_ISSUERS_REGISTRATIONS = _REGISTRATION_COLUMNS.where(
    _REGISTRATIONS.c.tenant_id == bindparam("tenant"),
    _REGISTRATIONS.c.issuer.in_(bindparam("issuers", expanding=True)),
).order_by(_REGISTRATIONS.c.id)
_FIND_DEPLOYMENTS = select(_DEPLOYMENTS.c.registration_id, _DEPLOYMENTS.c.deployment_id).where(
    _DEPLOYMENTS.c.registration_id.in_(bindparam("registrations", expanding=True))
)


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


class LaunchDirectory:
    def __init__(
        self,
        database: Database,
        secret_box: SecretBox,
        ttl: float = KEY_RING_TTL,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._secret_box = secret_box
        self._tenants: ExpiringCache[str, TenantView] = ExpiringCache(ttl, max_entries, clock)
        self._by_issuer: ExpiringCache[tuple[str, str], tuple[RegistrationView, ...]] = ExpiringCache(
            ttl, max_entries, clock
        )
        self._by_id: ExpiringCache[str, RegistrationView] = ExpiringCache(ttl, max_entries, clock)

    async def tenant(self, slug: str) -> TenantView | None:
        view = self._tenants.get(slug)
        if view is None:
            async with self._database.engine.connect() as connection:
                row = (await connection.execute(_FIND_TENANT, {"slug": slug})).first()
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
            views = await self._read(_FIND_ISSUERS_REGISTRATIONS, {"tenant": tenant_id, "issuers": [bare, bare + "/"]})
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
            found = await self._read(_FIND_REGISTRATION, {"registration": registration_id})
            if not found:
                return None
            view = found[0]
            self._by_id.put(registration_id, view)
        return view

    def answers_held(self) -> int:
        """How many answers the caches hold now (at most three times `max_entries`)."""
        return len(self._tenants) + len(self._by_issuer) + len(self._by_id)

    def forget(self, registration: RegistrationView) -> None:
        """Drop what this process just changed, so its next launch reads the new row."""
        self._by_id.pop(registration.id)
        self._by_issuer.pop((registration.tenant_id, registration.issuer.rstrip("/")))

    async def _read(self, statement: Any, params: dict[str, Any]) -> tuple[RegistrationView, ...]:
        """The registrations a statement finds, with their deployments: two reads on one connection."""
        async with self._database.engine.connect() as connection:
            rows = (await connection.execute(statement, params)).all()
            if not rows:
                return ()
            found = {"registrations": [row.id for row in rows]}
            deployments = (await connection.execute(_FIND_DEPLOYMENTS, found)).all()
        return tuple(_view(row, _deployments_of(row.id, deployments), self._secret_box) for row in rows)


def _deployments_of(registration_id: str, deployments: Iterable[Any]) -> frozenset[str]:
    return frozenset(row.deployment_id for row in deployments if row.registration_id == registration_id)


def _view(row: Any, deployment_ids: frozenset[str], box: SecretBox) -> RegistrationView:
    """A registration's launch view from its row (only the columns of `_REGISTRATION_COLUMNS`)."""
    return RegistrationView(
        id=row.id,
        tenant_id=row.tenant_id,
        issuer=row.issuer,
        client_id=row.client_id,
        status=row.status,
        # The exact URLs, to call them (the columns may hold display copies).
        authorization_endpoint=called_endpoint(row, "authorization_endpoint", box),
        jwks_uri=called_endpoint(row, "jwks_uri", box) or row.jwks_uri,
        deployment_ids=deployment_ids,
        launched=row.launched_at is not None,
        key_set=row.key_set,
        login_hosts=platform_hosts(
            (row.issuer, row.authorization_endpoint, row.token_endpoint, row.jwks_uri, row.registration_endpoint),
            row.login_hosts or (),
        ),
        learnt_login_hosts=tuple(row.login_hosts or ()),
    )
