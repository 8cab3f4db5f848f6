"""Registration attempts cut off mid-flight (the process stopped or crashed between two steps): marked
`interrupted` once they have made no progress for longer than any step can take, each with what to do."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from broker.database import utcnow
from broker.registration import attempts
from broker.registration.models import AttemptStatus, Registration, RegistrationAttempt
from broker.services import Services
from tenants.services import CreatedTenant


async def stalled_attempt(services: Services, tenant_id: str, status: AttemptStatus, *, idle: timedelta) -> str:
    """An attempt last moved on `idle` ago, as a process that stopped in that step leaves it."""
    attempt = RegistrationAttempt(
        tenant_id=tenant_id,
        status=status,
        openid_configuration_url="https://lms.example.edu/.well-known/openid-configuration",
        created_at=utcnow() - idle,
        updated_at=utcnow() - idle,
    )
    async with services.database.transaction() as session:
        session.add(attempt)
    return attempt.id


async def store_nested_documents(services: Services, registration_id: str) -> None:
    """A registration's stored documents as a hostile platform could have made them: JSON nested 900 deep in
    its answer and its attempt's configuration, and an answer body of 3,000 brackets deep."""
    document: dict[str, object] = {}
    for _ in range(900):
        document = {"a": document}
    async with services.database.transaction() as session:
        await session.execute(
            update(RegistrationAttempt)
            .where(RegistrationAttempt.registration_id == registration_id)
            .values(response_body="[" * 3000 + "]" * 3000, platform_configuration=document)
        )
        await session.execute(
            update(Registration).where(Registration.id == registration_id).values(registration_response=document)
        )


async def statuses(services: Services, ids: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    async with services.database.session() as session:
        query = select(RegistrationAttempt).where(RegistrationAttempt.id.in_(ids.values()))
        rows = (await session.scalars(query)).all()
    by_id = {row.id: (row.status, row.error_detail) for row in rows}
    return {name: by_id[attempt_id] for name, attempt_id in ids.items()}


async def test_attempts_stalled_while_fetching_or_submitting_are_interrupted_with_what_to_do(
    services: Services, tenant: CreatedTenant
) -> None:
    long_ago = attempts.STALLED_AFTER + timedelta(minutes=1)
    ids = {
        "fetching": await stalled_attempt(services, tenant.tenant.id, AttemptStatus.FETCHING, idle=long_ago),
        "submitting": await stalled_attempt(services, tenant.tenant.id, AttemptStatus.SUBMITTING, idle=long_ago),
        "under way": await stalled_attempt(
            services, tenant.tenant.id, AttemptStatus.SUBMITTING, idle=timedelta(seconds=5)
        ),
        "reviewing": await stalled_attempt(services, tenant.tenant.id, AttemptStatus.REVIEWING, idle=long_ago),
        "failed": await stalled_attempt(services, tenant.tenant.id, AttemptStatus.FAILED, idle=long_ago),
    }

    assert await attempts.interrupt_stalled(services.database) >= 2
    found = await statuses(services, ids)

    assert found["fetching"][0] == found["submitting"][0] == "interrupted"
    assert "Nothing was sent to the platform" in (found["fetching"][1] or "")
    assert "may have registered" in (found["submitting"][1] or "")
    assert {name: status for name, (status, _) in found.items() if status != "interrupted"} == {
        "under way": "submitting",
        "reviewing": "reviewing",
        "failed": "failed",
    }
