"""Reading registrations for the API and the CLI; a tenant only ever sees its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Select, select
from sqlalchemy.orm import defer

from broker.database import Database
from broker.registration.models import Deployment, Registration


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


@dataclass(frozen=True, slots=True)
class ListedRegistration:
    """A registration as the API lists it: its `LISTED_COLUMNS`, and its deployments' ids, oldest first."""

    values: RowMapping
    deployment_ids: list[str]

    @property
    def id(self) -> str:
        return str(self.values["id"])


# The columns an item shows of a registration as stored (the rest is derived from them when shown).
SHOWN_COLUMNS = (
    Registration.id,
    Registration.issuer,
    Registration.client_id,
    Registration.jwks_uri,
    Registration.token_endpoint,
    Registration.authorization_endpoint,
    Registration.authorization_server,
    Registration.registration_endpoint,
    Registration.product_family_code,
    Registration.platform_version,
    Registration.status,
    Registration.scopes_requested,
    Registration.scopes_granted,
    Registration.platform_profile,
    Registration.adaptations,
    Registration.verified_at,
    Registration.launched_at,
    Registration.scope_drift,
    Registration.created_at,
    Registration.updated_at,
)
# What a listing reads, as plain rows: building ORM objects was most of a page's CPU. Of the registration
# request only the login URI is read (the item shows its host), picked out by the database.
LISTED_COLUMNS = (
    *SHOWN_COLUMNS,
    Registration.registration_request["initiate_login_uri"].as_string().label("initiate_login_uri"),
)


async def registration_page(
    database: Database,
    *,
    tenant_id: str,
    after_id: str | None = None,
    limit: int,
    filters: RegistrationFilter | None = None,
) -> list[ListedRegistration]:
    """A tenant's registrations after `after_id`, oldest first, as the API lists them: one statement, the page
    joined to its deployments (a row per deployment; a registration has a handful)."""
    page = _listing(select(*LISTED_COLUMNS), tenant_id, after_id, filters).limit(limit).subquery()
    query = (
        select(page, Deployment.deployment_id.label("_deployment_id"))
        .outerjoin(Deployment, Deployment.registration_id == page.c.id)
        .order_by(page.c.id, Deployment.id)
    )
    listed: list[ListedRegistration] = []
    async with database.session() as session:
        for row in (await session.execute(query)).mappings():
            if not listed or listed[-1].id != row["id"]:
                listed.append(ListedRegistration(row, []))
            if row["_deployment_id"] is not None:
                listed[-1].deployment_ids.append(row["_deployment_id"])
    return listed


async def list_registrations(
    database: Database,
    *,
    tenant_id: str | None,
    after_id: str | None = None,
    limit: int | None = None,
    filters: RegistrationFilter | None = None,
) -> list[Registration]:
    query = _listing(select(Registration).options(*_LISTED), tenant_id, after_id, filters)
    if limit is not None:
        query = query.limit(limit)
    async with database.session() as session:
        return list((await session.scalars(query)).all())


def _listing(
    query: Select[Any], tenant_id: str | None, after_id: str | None, filters: RegistrationFilter | None
) -> Select[Any]:
    query = query.order_by(Registration.id)
    if tenant_id is not None:
        query = query.where(Registration.tenant_id == tenant_id)
    if filters is not None:
        query = query.where(*_conditions(filters))
    if after_id is not None:
        query = query.where(Registration.id > after_id)
    return query


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
