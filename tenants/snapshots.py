"""The tenant as the registration pages read it: a frozen copy of its row, kept by slug in this process.

Both steps of every registration read their tenant; a copy kept `SNAPSHOT_TTL` seconds spares each step a read
and an ORM object. The tenant service forgets a tenant's copy when it changes the tenant, so this process's
next step sees the change at once; a change made by another process (a broker of a fleet, the CLI) reaches the
pages within `SNAPSHOT_TTL`. Only tenants that exist are kept, so a tenant created a moment ago is found at once.
A copy is shared by concurrent requests: it is no ORM object (no session can take it) and nothing in it changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import bindparam, select

from broker.database import Database
from broker.expiring import ExpiringCache
from tenants.models import Tenant

SNAPSHOT_TTL = 2.0
MAX_ENTRIES = 10_000

_TENANTS = Tenant.metadata.tables[Tenant.__tablename__]
_READ = select(
    *(
        _TENANTS.c[name]
        for name in (
            "id", "slug", "name", "hostname", "tool_configuration", "review_registrations", "activation_policy",
            "suspended_at",
        )
    )
).where(_TENANTS.c.slug == bindparam("slug"))


@dataclass(frozen=True, slots=True)
class TenantSnapshot:
    """The columns of a tenant that its registration pages use (a `tenants.models.ReadOnlyTenant`)."""

    id: str
    slug: str
    name: str
    hostname: str | None
    tool_configuration: Mapping[str, Any]
    review_registrations: bool
    activation_policy: str
    suspended_at: datetime | None


class TenantSnapshots:
    def __init__(
        self,
        database: Database,
        ttl: float = SNAPSHOT_TTL,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._kept: ExpiringCache[str, TenantSnapshot] = ExpiringCache(ttl, max_entries, clock)
        self._forgotten = 0  # how many times a copy was forgotten: see `get`

    async def get(self, slug: str) -> TenantSnapshot | None:
        snapshot = self._kept.get(slug)
        if snapshot is not None:
            return snapshot
        forgotten = self._forgotten
        row = (await self._database.read(_READ, {"slug": slug})).first()
        if row is None:
            return None
        snapshot = TenantSnapshot(
            row.id, row.slug, row.name, row.hostname, MappingProxyType(row.tool_configuration or {}),
            row.review_registrations, row.activation_policy, row.suspended_at,
        )  # fmt: skip
        # A change this process committed while the row was being read may be missing from it: not kept then.
        if self._forgotten == forgotten:
            self._kept.put(slug, snapshot)
        return snapshot

    def forget(self, slug: str) -> None:
        """Drop the tenant's copy once this process has committed a change to it."""
        self._forgotten += 1
        self._kept.pop(slug)
