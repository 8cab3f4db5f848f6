"""Signing keys: generation, the published JWKS, and an in-memory key ring.

A tenant has two kinds of key set. Its own (`key_set` None) signs the launch tokens its tool verifies, at
/t/{slug}/.well-known/jwks.json. Each platform it is registered with gets a key set of its own
(`platform_key_set`), published at that platform's own JWKS URL, which signs what only that platform verifies:
client assertions and Deep Linking responses. So an assertion signed for one platform verifies with no other
platform's keys, whatever `aud` a platform asked for.

Launch tokens, client assertions and Deep Linking responses are signed on hot paths, so each private key
is decrypted once per process and each JWKS document is serialised once; the ring re-reads the database
only after `ttl` seconds, which is how a rotation made by another broker process reaches this one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import Select, select

from broker.database import Database
from broker.expiring import ExpiringCache
from tenants.encryption import SecretBox, derive_key
from tenants.key_generator import SIGNING_ALGORITHM
from tenants.models import KeyStatus, PlatformSigningKey, SigningKey, Tenant

MAX_UNKNOWN_SLUGS = 10_000
# Key sets whose JWKS and signing key a process keeps at once (about 8.5 KiB each); the least recently loaded
# beyond it are read from the database again when asked for.
MAX_KEY_SETS = 20_000
# A decrypted signing key outlives its key set's entry, so that reloading a key set does not decrypt it again.
PRIVATE_KEY_TTL = 3600.0
PUBLISHED_STATUSES = (KeyStatus.NEXT, KeyStatus.ACTIVE, KeyStatus.RETIRED)
# How stale a process's view of a tenant's keys may be: a rotation made elsewhere reaches it within this.
KEY_RING_TTL = 30.0


def key_id(key: RSAKey) -> str:
    """The key's kid, which every key the broker makes has (its RFC 7638 thumbprint)."""
    if not key.kid:
        raise ValueError("a signing key without a kid; receivers find our keys by it")
    return key.kid


# A registration names its key set at the review, again at the submission, and then ensures it.
@lru_cache(maxsize=10_000)
def platform_key_set(secret_key: str, tenant_id: str, issuer: str) -> str:
    """The name of the key set bound to (tenant, platform issuer), as it appears in its JWKS URL.

    A keyed digest, not the issuer itself: it is known before the platform is called (the registration
    request carries the URL), it is the same each time that platform registers again, and nobody without the
    broker's secret can tell from a URL which platforms a tenant is registered with.
    """
    key = derive_key(secret_key, "platform key sets v1")
    digest = hmac.new(key, f"{tenant_id}\n{issuer}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def public_jwk(key: RSAKey) -> dict[str, Any]:
    return key.as_dict(private=False, kid=key.kid, alg=SIGNING_ALGORITHM, use="sig")


def read_private_jwk(text: str | bytes) -> RSAKey:
    """A stored private key: a JWK in JSON, as `private_jwk_json` writes it and as keys made before it were."""
    return RSAKey.import_key(json.loads(text))


def jwks_body(public_keys: list[dict[str, Any]]) -> bytes:
    return json.dumps({"keys": public_keys}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class TenantKeys:
    """One key set of a tenant (its own when `key_set` is None): the published JWKS and the signing key."""

    tenant_id: str
    jwks: bytes
    signing_key: RSAKey | None
    public_keys: tuple[dict[str, Any], ...]

    def key_set(self) -> KeySet:
        return KeySet.import_key_set({"keys": list(self.public_keys)})


KeySetName = tuple[str, str | None]  # (tenant slug, key set; None for the tenant's own)


class KeyRing:
    """Published JWKS and active private key per tenant slug and key set, cached for `ttl` seconds."""

    def __init__(
        self,
        database: Database,
        secret_box: SecretBox,
        ttl: float = KEY_RING_TTL,
        max_unknown: int = MAX_UNKNOWN_SLUGS,
        max_entries: int = MAX_KEY_SETS,
    ) -> None:
        self._database = database
        self._secret_box = secret_box
        self._entries: ExpiringCache[KeySetName, TenantKeys] = ExpiringCache(ttl, max_entries)
        # Slugs and key sets that do not exist, remembered briefly; bounded, since anyone can ask for any.
        self._unknown: ExpiringCache[KeySetName, bool] = ExpiringCache(ttl, max_unknown)
        # Decrypted signing keys by kid, so that a key set read again after its TTL is not decrypted again.
        self._private_keys: ExpiringCache[str, RSAKey] = ExpiringCache(PRIVATE_KEY_TTL, max_entries)
        self._loading: dict[KeySetName, asyncio.Future[TenantKeys | None]] = {}

    def cached(self, slug: str, key_set: str | None = None) -> TenantKeys | None:
        """The key set as held now, without waiting: None when it is not held (or expired), and `get` reads it."""
        return self._entries.get((slug, key_set))

    async def get(self, slug: str, key_set: str | None = None) -> TenantKeys | None:
        """The tenant's own keys, or with `key_set` the keys bound to one of its platforms."""
        name = (slug, key_set)
        keys = self._entries.get(name)
        if keys is not None:
            return keys
        if self._unknown.get(name):
            return None
        loading = self._loading.get(name)
        if loading is None:
            # Concurrent requests for a cold key set share one load, and nothing is kept once it is done.
            loading = asyncio.ensure_future(self._load(slug, key_set))
            self._loading[name] = loading
            loading.add_done_callback(lambda _: self._loading.pop(name, None))
        keys = await asyncio.shield(loading)
        self._remember(name, keys)
        return keys

    def invalidate(self, slug: str) -> None:
        """Forgets every key set of the tenant: the next `get` reads the database."""
        for cache in (self._entries, self._unknown):
            for name in cache:
                if name[0] == slug:
                    cache.pop(name)

    def _remember(self, name: KeySetName, keys: TenantKeys | None) -> None:
        if keys is not None:
            self._entries.put(name, keys)
            self._unknown.pop(name)
            return
        self._entries.pop(name)
        self._unknown.put(name, True)

    async def _load(self, slug: str, key_set: str | None) -> TenantKeys | None:
        async with self._database.session() as session:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            if tenant_id is None:
                return None
            rows = (await session.scalars(_published_keys(tenant_id, key_set))).all()
        if key_set is not None and not rows:
            return None
        active = next((row for row in reversed(rows) if row.status == KeyStatus.ACTIVE), None)
        public_keys = tuple(row.public_jwk for row in rows)
        return TenantKeys(
            tenant_id=tenant_id,
            jwks=jwks_body(list(public_keys)),
            signing_key=self._private_key(active) if active else None,
            public_keys=public_keys,
        )

    def _private_key(self, row: SigningKey | PlatformSigningKey) -> RSAKey:
        key = self._private_keys.get(row.kid)
        if key is None:
            key = read_private_jwk(self._secret_box.decrypt(row.private_key_encrypted))
            self._private_keys.put(row.kid, key)
        return key


def _published_keys(tenant_id: str, key_set: str | None) -> Select[Any]:
    if key_set is None:
        return (
            select(SigningKey)
            .where(SigningKey.tenant_id == tenant_id, SigningKey.status.in_(PUBLISHED_STATUSES))
            .order_by(SigningKey.id)
        )
    return (
        select(PlatformSigningKey)
        .where(
            PlatformSigningKey.tenant_id == tenant_id,
            PlatformSigningKey.key_set == key_set,
            PlatformSigningKey.status.in_(PUBLISHED_STATUSES),
        )
        .order_by(PlatformSigningKey.id)
    )
