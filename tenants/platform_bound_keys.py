"""Signing keys bound to a platform: one key set per (tenant, platform issuer), made when a registration with
that platform is about to be sent.

Why per (tenant, issuer), not per registration: the key set's JWKS URL goes into the registration request, so
it must be known before the platform names a `client_id`; the issuer is known then (and tied to the host the
configuration came from, so nobody else's platform can share it). The key set stays the same when that
platform registers the tool again, so a platform's cached copy of the JWKS stays right, and the number of
keys grows with platforms, not attempts. Registrations of one LMS share its key set, and they share it with
nobody: an assertion the broker signs for one platform verifies with no other platform's keys.
"""

from __future__ import annotations

from sqlalchemy import bindparam, exists, select

from broker.database import Database, utcnow
from broker.settings import Settings
from tenants.key_pool import KeyPool
from tenants.keys import KeyRing, platform_key_set
from tenants.models import KeyStatus, PlatformSigningKey
from tenants.services import lock_tenant


def platform_jwks_path(key_set: str) -> str:
    """The path, on the tenant's site (tenants.hosts), of the JWKS of one of its platform-bound key sets."""
    return f"/keys/{key_set}/jwks.json"


# How many key sets known to hold a key a process keeps (the set is emptied when full).
REMEMBERED = 10_000


class PlatformBoundKeys:
    def __init__(self, database: Database, settings: Settings, key_ring: KeyRing, pool: KeyPool) -> None:
        self.database = database
        self.settings = settings
        self.key_ring = key_ring
        self.pool = pool
        # Key sets seen holding an active key. Platform-bound keys are never retired, and deleted only with their
        # tenant (whose registration pages then refuse), so one that held a key still does: no read to ask again.
        self._holding: set[str] = set()

    def key_set(self, tenant_id: str, issuer: str) -> str:
        return platform_key_set(self.settings.secret_key, tenant_id, issuer)

    async def ensure(self, tenant_id: str, slug: str, issuer: str) -> str:
        """The platform's key set, with a signing key from the pool if it had none yet."""
        key_set = self.key_set(tenant_id, issuer)
        if key_set in self._holding:
            return key_set
        if (await self.database.read(_HAS_KEY, {"tenant_id": tenant_id, "key_set": key_set})).scalar():
            self._held(key_set)
            return key_set
        pair = await self.pool.take()  # may generate a key: outside the transaction
        async with self.database.transaction() as session:
            # Two registrations with one new platform at once: the tenant lock makes the second find the key.
            await lock_tenant(session, tenant_id)
            if not await session.scalar(_HAS_KEY, {"tenant_id": tenant_id, "key_set": key_set}):
                now = utcnow()
                session.add(
                    PlatformSigningKey(
                        tenant_id=tenant_id,
                        key_set=key_set,
                        kid=pair.kid,
                        status=KeyStatus.ACTIVE,
                        private_key_encrypted=pair.private_key_encrypted,
                        public_jwk=pair.public_jwk,
                        created_at=now,
                        activated_at=now,
                    )
                )
        self.key_ring.invalidate(slug)
        self._held(key_set)
        return key_set

    def _held(self, key_set: str) -> None:
        if len(self._holding) >= REMEMBERED:
            self._holding.clear()
        self._holding.add(key_set)


# Built once: it runs at every registration's submission.
_HAS_KEY = select(
    exists().where(
        PlatformSigningKey.tenant_id == bindparam("tenant_id"),
        PlatformSigningKey.key_set == bindparam("key_set"),
        PlatformSigningKey.status == KeyStatus.ACTIVE,
    )
)
