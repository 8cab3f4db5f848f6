"""Reading registrations for the API and the CLI; a tenant only ever sees its own."""

from __future__ import annotations

from sqlalchemy import select

from broker.database import Database
from broker.registration.models import Registration


async def list_registrations(
    database: Database, *, tenant_id: str | None, after_id: str | None = None, limit: int | None = None
) -> list[Registration]:
    query = select(Registration).order_by(Registration.id)
    if tenant_id is not None:
        query = query.where(Registration.tenant_id == tenant_id)
    if after_id is not None:
        query = query.where(Registration.id > after_id)
    if limit is not None:
        query = query.limit(limit)
    async with database.session() as session:
        return list((await session.scalars(query)).all())


async def get_registration(database: Database, *, tenant_id: str, registration_id: str) -> Registration | None:
    async with database.session() as session:
        return await session.scalar(
            select(Registration).where(Registration.id == registration_id, Registration.tenant_id == tenant_id)
        )
