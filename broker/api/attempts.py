"""Registration attempts (/api/v1/registration-attempts), failed ones included.

An attempt's id is the reference an LMS admin was shown on a failure page, so support can look it up here.
"""

from __future__ import annotations

from pydantic import Field

from broker.api.operations import Caller, Operations
from broker.api.pagination import Page
from broker.api.params import Paging
from broker.api.problems import NotFound
from broker.registration.attempts import attempt_page, get_attempt
from broker.registration.models import AttemptStatus
from broker.registration.representation import AttemptItem, attempt_fields

operations = Operations()


class AttemptQuery(Paging):
    status: AttemptStatus | None = Field(default=None, description="Only this status.")


@operations.get("/registration-attempts", "List registration attempts, failed ones included")
async def attempts(caller: Caller, query: AttemptQuery) -> Page[AttemptItem]:
    rows = await attempt_page(
        caller.services.database,
        tenant_id=caller.tenant.id,
        status=query.status,
        after_id=query.cursor,
        limit=query.limit + 1,
    )
    return Page[AttemptItem].of_fields(rows, query.limit, lambda row: attempt_fields(row._mapping))


@operations.get(
    "/registration-attempts/{id}",
    "One attempt; its id is the reference an LMS admin was shown",
    resource="registration attempt",
)
async def attempt(caller: Caller, id: str) -> AttemptItem:
    row = await get_attempt(caller.services.database, tenant_id=caller.tenant.id, attempt_id=id)
    if row is None:
        raise NotFound("registration attempt")
    return AttemptItem.of(row)
