"""Registrations (/api/v1/registrations): list with filters, get, status changes, deployments, and what was
exchanged with the platform.

`/documents` are the documents of the registration as it stands (the platform's configuration, our request,
the platform's answer; secret-looking URL values redacted). `/history` is every attempt that registered or
updated it, oldest first, each with the documents of that exchange.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from broker.api.operations import Caller, Operations
from broker.api.pagination import Page
from broker.api.params import Paging, Since, Text
from broker.api.problems import Conflict, NotFound
from broker.registration.attempts import registration_history
from broker.registration.models import Registration, RegistrationStatus
from broker.registration.queries import (
    ListedRegistration,
    RegistrationFilter,
    get_registration,
    registration_page,
)
from broker.registration.representation import (
    AttemptItem,
    DeploymentItem,
    RegistrationDocuments,
    RegistrationItem,
    registration_fields,
)
from broker.registration.status import StatusChangeError, UnknownRegistrationError, change_status
from broker.representation import Item

operations = Operations()
ONE = {"resource": "registration"}


class RegistrationQuery(Paging):
    status: RegistrationStatus | None = Field(default=None, description="Only this status.")
    product_family_code: Text | None = Field(default=None, description="Only this platform, e.g. moodle or canvas.")
    updated_since: Since | None = Field(default=None, description="Only those updated at or after this time.")


class RegistrationHistory(Item, title="RegistrationHistory"):
    items: list[AttemptItem]


@operations.get("/registrations", "List registrations, oldest first")
async def registrations(caller: Caller, query: RegistrationQuery) -> Page[RegistrationItem]:
    filters = RegistrationFilter(
        status=query.status, product_family_code=query.product_family_code, updated_since=query.updated_since
    )
    rows = await registration_page(
        caller.services.database,
        tenant_id=caller.tenant.id,
        after_id=query.cursor,
        limit=query.limit + 1,
        filters=filters,
    )
    return Page[RegistrationItem].of_fields(rows, query.limit, _listed_fields)


def _listed_fields(row: ListedRegistration) -> dict[str, Any]:
    return registration_fields(row.values, row.values["initiate_login_uri"], row.deployment_ids)


@operations.get("/registrations/{id}", "One registration", **ONE)
async def registration(caller: Caller, id: str) -> RegistrationItem:
    return RegistrationItem.of(await _registration(caller, id))


@operations.get("/registrations/{id}/deployments", "A registration's deployments", **ONE)
async def deployments(caller: Caller, id: str) -> Page[DeploymentItem]:
    row = await _registration(caller, id)
    # A registration has a handful of deployments, so they come in one page.
    return Page[DeploymentItem](items=[DeploymentItem.of(item) for item in row.deployments], next=None)


@operations.get(
    "/registrations/{id}/documents",
    "The documents of a registration as it stands: platform configuration, request, answer",
    **ONE,
)
async def documents(caller: Caller, id: str) -> RegistrationDocuments:
    return RegistrationDocuments.of(await _registration(caller, id))


@operations.get(
    "/registrations/{id}/history",
    "Every attempt that registered or updated this registration, oldest first, with its documents",
    **ONE,
)
async def history(caller: Caller, id: str) -> RegistrationHistory:
    row = await _registration(caller, id)
    attempts = await registration_history(caller.services.database, registration_id=row.id)
    return RegistrationHistory(items=[AttemptItem.of(attempt) for attempt in attempts])


async def _registration(caller: Caller, registration_id: str) -> Registration:
    row = await get_registration(caller.services.database, tenant_id=caller.tenant.id, registration_id=registration_id)
    if row is None:
        raise NotFound("registration")
    return row


async def _change_status(caller: Caller, registration_id: str, action: str) -> RegistrationItem:
    try:
        row = await change_status(caller.services.database, registration_id, action, tenant_id=caller.tenant.id)
    except UnknownRegistrationError as error:
        raise NotFound("registration") from error
    except StatusChangeError as error:
        raise Conflict(str(error)) from error
    return RegistrationItem.of(row)


CHANGE = {**ONE, "refusals": (409,)}


@operations.post("/registrations/{id}/activate", "Activate a registration: pending → active", **CHANGE)
async def activate_registration(caller: Caller, id: str) -> RegistrationItem:
    return await _change_status(caller, id, "activate")


@operations.post("/registrations/{id}/disable", "Disable a registration: launches are refused", **CHANGE)
async def disable_registration(caller: Caller, id: str) -> RegistrationItem:
    return await _change_status(caller, id, "disable")


@operations.post("/registrations/{id}/enable", "Enable a registration: disabled → active", **CHANGE)
async def enable_registration(caller: Caller, id: str) -> RegistrationItem:
    return await _change_status(caller, id, "enable")
