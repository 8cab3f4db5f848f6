"""Signing-key rotation: publish the next key, sign with it once every cache can have seen it, keep the old
key published for a grace period after it stops signing, then remove it.

A key moves `next` → `active` → `retired` → removed. Only the `active` key signs; all three are in the JWKS.
`advance` makes the time-driven moves and is safe to run from any number of broker processes at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.database import Database, json_time, utcnow
from broker.jwks import JWKS_MAX_AGE
from broker.logs import fields
from broker.representation import Item, Timestamp, shown_once
from broker.settings import Settings
from broker.webhooks.models import EventType
from broker.webhooks.outbox import record_event
from tenants.encryption import SecretBox
from tenants.hosts import site_of
from tenants.key_generator import generate_signing_key, private_jwk_json
from tenants.keys import KEY_RING_TTL, KeyRing, key_id, public_jwk
from tenants.models import KeyStatus, SigningKey, Tenant
from tenants.services import lock_tenant

logger = logging.getLogger("broker.key_rotation")

# A platform may hold our JWKS for its max-age, and another broker process its key ring for the TTL: only
# after both can every verifier have the new key, so only then may it sign.
PUBLISH_AHEAD = timedelta(seconds=JWKS_MAX_AGE + KEY_RING_TTL)
# Anything the old key signed lives at most 300 s, and other processes may sign with it for one more key-ring
# TTL; a day is far beyond both, for verifiers that cache keys by kid.
RETIRED_KEY_GRACE = timedelta(days=1)


@dataclass(frozen=True)
class Rotation:
    tenant: Tenant
    next_key: SigningKey
    started: bool  # False when a rotation was already under way: this is its key

    @property
    def activates_at(self) -> datetime:
        return self.next_key.created_at + PUBLISH_AHEAD


class SigningKeyItem(Item, title="SigningKey"):
    """A signing key as the API and the CLI show it: the public half and where it is in its rotation."""

    kid: str
    status: KeyStatus
    published_at: Timestamp
    activates_at: Timestamp | None
    activated_at: Timestamp | None
    retired_at: Timestamp | None
    removed_at: Timestamp | None
    public_jwk: dict[str, Any]
    started: bool | None = shown_once("Rotation only: false if one was already under way.")

    @classmethod
    def of(cls, row: SigningKey, *, started: bool | None = None) -> SigningKeyItem:
        return cls(
            kid=row.kid,
            status=KeyStatus(row.status),
            published_at=row.created_at,
            activates_at=row.created_at + PUBLISH_AHEAD if row.status == KeyStatus.NEXT else None,
            activated_at=row.activated_at,
            retired_at=row.retired_at,
            removed_at=row.retired_at + RETIRED_KEY_GRACE if row.retired_at else None,
            public_jwk=row.public_jwk,
            started=started,
        )


def signing_key_item(row: SigningKey) -> dict[str, Any]:
    return SigningKeyItem.of(row).plain()


class KeyRotationService:
    def __init__(self, database: Database, settings: Settings, secret_box: SecretBox, key_ring: KeyRing) -> None:
        self.database = database
        self.settings = settings
        self.secret_box = secret_box
        self.key_ring = key_ring

    async def keys(self, tenant_id: str) -> list[SigningKey]:
        async with self.database.session() as session:
            query = select(SigningKey).where(SigningKey.tenant_id == tenant_id).order_by(SigningKey.id)
            return list((await session.scalars(query)).all())

    async def start(self, tenant_id: str, now: datetime | None = None) -> Rotation:
        """Publishes a new `next` key now; `advance` makes it sign after PUBLISH_AHEAD."""
        now = now or utcnow()
        key = generate_signing_key()  # slow (RSA), so outside the transaction
        async with self.database.transaction() as session:
            tenant = await lock_tenant(session, tenant_id)
            pending = await _key_with_status(session, tenant_id, KeyStatus.NEXT)
            if pending is None:
                pending = SigningKey(
                    tenant_id=tenant_id,
                    kid=key_id(key),
                    status=KeyStatus.NEXT,
                    private_key_encrypted=self.secret_box.encrypt(private_jwk_json(key)),
                    public_jwk=public_jwk(key),
                    created_at=now,
                )
                session.add(pending)
                started = True
            else:
                started = False
        self.key_ring.invalidate(tenant.slug)
        return Rotation(tenant, pending, started)

    async def advance(self, now: datetime | None = None) -> None:
        """Activates `next` keys published long enough ago and removes keys retired long enough ago."""
        now = now or utcnow()
        async with self.database.session() as session:
            due = (
                await session.scalars(
                    select(SigningKey.tenant_id).where(
                        SigningKey.status == KeyStatus.NEXT, SigningKey.created_at <= now - PUBLISH_AHEAD
                    )
                )
            ).all()
        for tenant_id in due:
            await self._activate(tenant_id, now)
        await self._remove_retired(now)

    async def schedule(self, now: datetime | None = None) -> None:
        """With BROKER_KEY_ROTATION_DAYS set, starts a rotation for each tenant whose key is that old."""
        if not self.settings.key_rotation_days:
            return
        now = now or utcnow()
        cutoff = now - timedelta(days=self.settings.key_rotation_days)
        async with self.database.session() as session:
            rotating = select(SigningKey.tenant_id).where(SigningKey.status == KeyStatus.NEXT)
            old = await session.scalars(
                select(SigningKey.tenant_id).where(
                    SigningKey.status == KeyStatus.ACTIVE,
                    SigningKey.activated_at <= cutoff,
                    SigningKey.tenant_id.not_in(rotating),
                )
            )
            tenant_ids = old.all()
        for tenant_id in tenant_ids:
            await self.start(tenant_id, now)

    async def _activate(self, tenant_id: str, now: datetime) -> None:
        async with self.database.transaction() as session:
            # The tenant lock makes concurrent `advance` calls queue; the second finds nothing left to do.
            tenant = await lock_tenant(session, tenant_id)
            pending = await _key_with_status(session, tenant_id, KeyStatus.NEXT)
            if pending is None or pending.created_at > now - PUBLISH_AHEAD:
                return
            previous = await _key_with_status(session, tenant_id, KeyStatus.ACTIVE)
            if previous is not None:
                previous.status, previous.retired_at = KeyStatus.RETIRED, now
            pending.status, pending.activated_at = KeyStatus.ACTIVE, now
            await session.flush()
            await record_event(session, tenant, EventType.KEYS_ROTATED, self._event_data(tenant, pending, previous))
        self.key_ring.invalidate(tenant.slug)
        logger.info(
            "tenant %s now signs with key %s", tenant.slug, pending.kid,
            extra=fields(tenant=tenant.slug, kid=pending.kid),
        )  # fmt: skip

    def _event_data(self, tenant: Tenant, active: SigningKey, previous: SigningKey | None) -> dict[str, Any]:
        return {
            "kid": active.kid,
            "previous_kid": previous.kid if previous else None,
            "jwks_url": site_of(self.settings, tenant).jwks_url,
            "activated_at": json_time(active.activated_at),
        }

    async def _remove_retired(self, now: datetime) -> None:
        expired = (SigningKey.status == KeyStatus.RETIRED, SigningKey.retired_at <= now - RETIRED_KEY_GRACE)
        async with self.database.transaction() as session:
            slugs = (
                await session.scalars(
                    select(Tenant.slug).join(SigningKey, SigningKey.tenant_id == Tenant.id).where(*expired)
                )
            ).all()
            await session.execute(delete(SigningKey).where(*expired))
        for slug in set(slugs):
            self.key_ring.invalidate(slug)


async def _key_with_status(session: AsyncSession, tenant_id: str, status: str) -> SigningKey | None:
    query = select(SigningKey).where(SigningKey.tenant_id == tenant_id, SigningKey.status == status)
    return await session.scalar(query.order_by(SigningKey.id.desc()).limit(1))
