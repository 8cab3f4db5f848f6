"""API keys: random bearer keys shown once, stored as a SHA-256 digest; several named keys per tenant.

The keys carry 256 bits of randomness, so a fast digest is as safe as a password hash here and keeps
every API call cheap (a password hash such as argon2 would cost tens of milliseconds per request).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.database import Database, utcnow
from tenants.models import ApiKey

KEY_PREFIX = "lbk_"


@dataclass(frozen=True)
class NewApiKey:
    plaintext: str
    prefix: str
    digest: str


def generate_api_key() -> NewApiKey:
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewApiKey(plaintext=plaintext, prefix=plaintext[:12], digest=digest_api_key(plaintext))


def digest_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def looks_like_api_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX) and 20 <= len(value) <= 100


class ApiKeyError(ValueError):
    """A refused API-key change; the message says what to do instead."""


class UnknownApiKeyError(ApiKeyError):
    """No such key (or not this tenant's)."""


class LastApiKeyError(ApiKeyError):
    """Revoking it would leave the tenant without a way into the API."""


MAX_NAME_LENGTH = 100


class ApiKeyService:
    """Several named keys per tenant: created (shown once), listed, revoked."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, tenant_id: str, name: str) -> tuple[ApiKey, str]:
        """The new key's row and the key itself, which is not stored and cannot be shown again."""
        name = (name or "").strip()
        if not 1 <= len(name) <= MAX_NAME_LENGTH:
            raise ApiKeyError(f"name: give the key a name of 1 to {MAX_NAME_LENGTH} characters")
        new_key = generate_api_key()
        row = ApiKey(tenant_id=tenant_id, name=name, prefix=new_key.prefix, digest=new_key.digest)
        async with self.database.transaction() as session:
            session.add(row)
        return row, new_key.plaintext

    async def list(self, tenant_id: str) -> list[ApiKey]:
        async with self.database.session() as session:
            query = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id)
            return list((await session.scalars(query)).all())

    async def revoke(self, key_id: str, *, tenant_id: str | None = None) -> ApiKey:
        """Revokes at once; `tenant_id` (the API) limits it to that tenant's keys, None (the operator) does not."""
        async with self.database.transaction() as session:
            query = select(ApiKey).where(ApiKey.id == key_id)
            if tenant_id is not None:
                query = query.where(ApiKey.tenant_id == tenant_id)
            row = await session.scalar(query.with_for_update())
            if row is None:
                raise UnknownApiKeyError(f"no API key {key_id!r}; list them to see their ids")
            if row.revoked_at is None:
                await _refuse_revoking_the_last_key(session, row)
                row.revoked_at = utcnow()
        return row


async def _refuse_revoking_the_last_key(session: AsyncSession, row: ApiKey) -> None:
    # A tenant with no live key could not reach the API again to make one.
    others = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.tenant_id == row.tenant_id, ApiKey.revoked_at.is_(None), ApiKey.id != row.id)
    )
    if not others:
        raise LastApiKeyError("this is the tenant's last live API key; create another one before revoking it")
