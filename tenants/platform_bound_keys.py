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

from sqlalchemy import bindparam, exists, insert, select

from broker.database import Database, utcnow
from broker.direct_sql import Statements
from broker.settings import Settings
from tenants.key_pool import KeyPair, KeyPool, take_spare
from tenants.keys import KeyRing, platform_key_set
from tenants.models import KeyStatus, PlatformSigningKey, Tenant
from tenants.services import TenantError


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
        return await self.ensure_key_set(tenant_id, slug, self.key_set(tenant_id, issuer))

    def binding(self, tenant_id: str, slug: str, issuer: str) -> KeyBinding:
        """The platform's key set for a registration about to be sent: its key bound, if it has none yet, by the
        write that puts the submission on record (see KeyBinding)."""
        return KeyBinding(self, tenant_id, slug, self.key_set(tenant_id, issuer))

    async def ensure_key_set(self, tenant_id: str, slug: str, key_set: str) -> str:
        """`ensure`, for the key set already named."""
        if key_set in self._holding:
            return key_set
        if (await self.database.read(_HAS_KEY, {"tenant_id": tenant_id, "key_set": key_set})).scalar():
            self._held(key_set)
            return key_set
        if not await self._bind(tenant_id, key_set, None):
            # The pool was empty: the key is made outside any transaction, then bound unless another was meanwhile.
            await self._bind(tenant_id, key_set, await self.pool.generate_on_demand())
        self.key_bound(slug, key_set)
        return key_set

    async def _bind(self, tenant_id: str, key_set: str, pair: KeyPair | None) -> bool:
        """`bind_within` a transaction of its own."""
        async with self.database.ephemeral() as statements:
            return await self.bind_within(statements, tenant_id, key_set, pair)

    async def bind_within(
        self, statements: Statements, tenant_id: str, key_set: str, pair: KeyPair | None
    ) -> bool:
        """Binds `pair`, or a spare key taken in the same transaction when it is None, to the key set unless it
        holds a key already; False when it needed a spare and the pool had none (nothing is written then)."""
        # Two registrations with one new platform at once take turns here: the second finds the first's key.
        await statements.lock()
        if await statements.scalar(_LOCK_TENANT, {"tenant_id": tenant_id}) is None:
            raise TenantError("tenant", "no such tenant")
        if await statements.scalar(_HAS_KEY, {"tenant_id": tenant_id, "key_set": key_set}):
            return True
        pair = pair or await take_spare(statements)
        if pair is None:
            return False
        now = utcnow()
        await statements.execute(
            _BIND,
            {
                "tenant_id": tenant_id,
                "key_set": key_set,
                "kid": pair.kid,
                "status": KeyStatus.ACTIVE,
                "private_key_encrypted": pair.private_key_encrypted,
                "public_jwk": pair.public_jwk,
                "created_at": now,
                "activated_at": now,
            },
        )
        return True

    def holds_key(self, key_set: str) -> bool:
        """Whether this process has seen the key set holding a key (so it still does)."""
        return key_set in self._holding

    def key_bound(self, slug: str, key_set: str) -> None:
        """Records that the key set holds a key, bound just now: the tenant's key ring reads its key sets again."""
        self.key_ring.invalidate(slug)
        self._held(key_set)

    def _held(self, key_set: str) -> None:
        if len(self._holding) >= REMEMBERED:
            self._holding.clear()
        self._holding.add(key_set)


class KeyBinding:
    """A platform's key set for one registration's submission. `write`, run in the transaction that puts the
    submission on record, binds a spare key to it when it holds none, so that no transaction of its own is
    spent on it; `bound`, once that transaction commits and before the request naming the key set goes out,
    makes sure it holds a key (making one when the pool had none: never inside a transaction)."""

    def __init__(self, keys: PlatformBoundKeys, tenant_id: str, slug: str, key_set: str) -> None:
        self.key_set = key_set
        self._keys = keys
        self._tenant_id = tenant_id
        self._slug = slug
        self._written = False

    async def write(self, statements: Statements) -> None:
        if not self._keys.holds_key(self.key_set):
            self._written = await self._keys.bind_within(statements, self._tenant_id, self.key_set, None)

    async def bound(self) -> str:
        if self._written:
            self._keys.key_bound(self._slug, self.key_set)
            return self.key_set
        return await self._keys.ensure_key_set(self._tenant_id, self._slug, self.key_set)


# Built once: it runs at every registration's submission.
_HAS_KEY = select(
    exists().where(
        PlatformSigningKey.tenant_id == bindparam("tenant_id"),
        PlatformSigningKey.key_set == bindparam("key_set"),
        PlatformSigningKey.status == KeyStatus.ACTIVE,
    )
)

# The tenant's row locked until the binding commits, FOR NO KEY UPDATE on PostgreSQL (tenants.services.lock_tenant
# says why not FOR UPDATE); on SQLite the transaction's write lock does that.
_LOCK_TENANT = select(Tenant.id).where(Tenant.id == bindparam("tenant_id")).with_for_update(key_share=True)
_BIND = insert(PlatformSigningKey)
