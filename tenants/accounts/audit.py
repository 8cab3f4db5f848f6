"""The audit log: what people did in the consoles, who did it, to which tenant, from which address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.database import Database
from tenants.accounts.models import Account, AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: the signed-in account and the address the request came from."""

    account: Account
    client_address: str | None = None


def record(
    session: AsyncSession, actor: Actor | None, action: str, *, tenant_id: str | None = None, **details: Any
) -> None:
    """Adds an audit event to the caller's transaction, so it commits with the change it describes."""
    session.add(
        AuditEvent(
            tenant_id=tenant_id,
            account_id=actor.account.id if actor else None,
            actor=actor.account.email if actor else "system",
            action=action,
            details=details,
            client_address=actor.client_address if actor else None,
        )
    )


class AuditLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def record(self, actor: Actor | None, action: str, *, tenant_id: str | None = None, **details: Any) -> None:
        async with self.database.transaction() as session:
            record(session, actor, action, tenant_id=tenant_id, **details)

    async def for_tenant(self, tenant_id: str, limit: int = 100) -> list[AuditEvent]:
        async with self.database.session() as session:
            query = (
                select(AuditEvent)
                .where(AuditEvent.tenant_id == tenant_id)
                .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
                .limit(limit)
            )
            return list((await session.scalars(query)).all())

    async def recent(self, limit: int = 100) -> list[AuditEvent]:
        async with self.database.session() as session:
            query = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
            return list((await session.scalars(query)).all())
