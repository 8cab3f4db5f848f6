"""Tenant signing keys: generation, the published JWKS, and an in-memory key ring.

Launch tokens, client assertions and Deep Linking responses are signed on hot paths, so each private key
is decrypted once per process and each JWKS document is serialised once; the ring re-reads the database
only after `ttl` seconds, which is how a rotation made by another broker process reaches this one.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import KeySet
from jwcrypto import jwk
from sqlalchemy import select

from broker.database import Database
from tenants.encryption import SecretBox
from tenants.models import KeyStatus, SigningKey, Tenant

SIGNING_ALGORITHM = "RS256"
RSA_KEY_SIZE = 2048
MAX_UNKNOWN_SLUGS = 10_000
PUBLISHED_STATUSES = (KeyStatus.NEXT, KeyStatus.ACTIVE, KeyStatus.RETIRED)
# How stale a process's view of a tenant's keys may be: a rotation made elsewhere reaches it within this.
KEY_RING_TTL = 30.0


def generate_signing_key() -> jwk.JWK:
    """An RSA-2048 key whose kid is its RFC 7638 thumbprint."""
    key = jwk.JWK.generate(kty="RSA", size=RSA_KEY_SIZE)
    return _with_kid(key, key.thumbprint())


def _with_kid(key: jwk.JWK, kid: str) -> jwk.JWK:
    exported = key.export_private(as_dict=True)
    exported.update(kid=kid, alg=SIGNING_ALGORITHM, use="sig")
    return jwk.JWK(**exported)


def public_jwk(key: jwk.JWK) -> dict[str, Any]:
    public = key.export_public(as_dict=True)
    public.update(kid=key["kid"], alg=SIGNING_ALGORITHM, use="sig")
    return public


def jwks_body(public_keys: list[dict[str, Any]]) -> bytes:
    return json.dumps({"keys": public_keys}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class TenantKeys:
    tenant_id: str
    jwks: bytes
    signing_key: jwk.JWK | None
    public_keys: tuple[dict[str, Any], ...]

    def key_set(self) -> KeySet:
        return KeySet.import_key_set({"keys": list(self.public_keys)})


class KeyRing:
    """Published JWKS and active private key per tenant slug, cached for `ttl` seconds."""

    def __init__(
        self,
        database: Database,
        secret_box: SecretBox,
        ttl: float = KEY_RING_TTL,
        max_unknown: int = MAX_UNKNOWN_SLUGS,
    ) -> None:
        self._database = database
        self._secret_box = secret_box
        self._ttl = ttl
        self._max_unknown = max_unknown
        self._entries: dict[str, tuple[float, TenantKeys]] = {}
        # Slugs with no tenant, remembered briefly; bounded, since anyone can ask for any slug.
        self._unknown: dict[str, float] = {}
        self._private_keys: dict[str, jwk.JWK] = {}
        self._loading: dict[str, asyncio.Future[TenantKeys | None]] = {}

    async def get(self, slug: str) -> TenantKeys | None:
        now = time.monotonic()
        entry = self._entries.get(slug)
        if entry is not None and entry[0] > now:
            return entry[1]
        if self._unknown.get(slug, 0.0) > now:
            return None
        loading = self._loading.get(slug)
        if loading is None:
            # Concurrent requests for a cold slug share one load, and nothing is kept once it is done.
            loading = asyncio.ensure_future(self._load(slug))
            self._loading[slug] = loading
            loading.add_done_callback(lambda _: self._loading.pop(slug, None))
        keys = await asyncio.shield(loading)
        self._remember(slug, keys)
        return keys

    def invalidate(self, slug: str) -> None:
        self._entries.pop(slug, None)
        self._unknown.pop(slug, None)

    def _remember(self, slug: str, keys: TenantKeys | None) -> None:
        expires = time.monotonic() + self._ttl
        if keys is not None:
            self._entries[slug] = (expires, keys)
            self._unknown.pop(slug, None)
            return
        self._entries.pop(slug, None)
        if len(self._unknown) >= self._max_unknown:
            self._unknown.clear()
        self._unknown[slug] = expires

    async def _load(self, slug: str) -> TenantKeys | None:
        async with self._database.session() as session:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            if tenant_id is None:
                return None
            rows = (
                await session.scalars(
                    select(SigningKey)
                    .where(SigningKey.tenant_id == tenant_id, SigningKey.status.in_(PUBLISHED_STATUSES))
                    .order_by(SigningKey.id)
                )
            ).all()
        active = next((row for row in reversed(rows) if row.status == KeyStatus.ACTIVE), None)
        public_keys = tuple(row.public_jwk for row in rows)
        return TenantKeys(
            tenant_id=tenant_id,
            jwks=jwks_body(list(public_keys)),
            signing_key=self._private_key(active) if active else None,
            public_keys=public_keys,
        )

    def _private_key(self, row: SigningKey) -> jwk.JWK:
        key = self._private_keys.get(row.kid)
        if key is None:
            key = jwk.JWK.from_json(self._secret_box.decrypt(row.private_key_encrypted))
            self._private_keys[row.kid] = key
        return key
