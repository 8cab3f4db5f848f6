"""Reading registrations for the API and the CLI; a tenant only ever sees its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import defer

from broker.database import Database
from broker.registration.models import Registration


@dataclass(frozen=True)
class RegistrationFilter:
    status: str | None = None
    product_family_code: str | None = None
    updated_since: datetime | None = None


# What no listing shows: the platform's configuration and answer, the largest documents of a registration, left
# unread (decoding JSON is most of the cost of reading rows); reading one from a listed row raises, never queries.
_LISTED = (
    defer(Registration.platform_configuration, raiseload=True),
    defer(Registration.registration_response, raiseload=True),
)


async def list_registrations(
    database: Database,
    *,
    tenant_id: str | None,
    after_id: str | None = None,
    limit: int | None = None,
    filters: RegistrationFilter | None = None,
) -> list[Registration]:
    query = select(Registration).options(*_LISTED).order_by(Registration.id)
    if tenant_id is not None:
        query = query.where(Registration.tenant_id == tenant_id)
    if filters is not None:
        query = query.where(*_conditions(filters))
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


def _conditions(filters: RegistrationFilter) -> list[ColumnElement[bool]]:
    conditions = []
    if filters.status is not None:
        conditions.append(Registration.status == filters.status)
    if filters.product_family_code is not None:
        conditions.append(Registration.product_family_code == filters.product_family_code)
    if filters.updated_since is not None:
        conditions.append(Registration.updated_at >= filters.updated_since)
    return conditions
