"""Attempts that never reached a platform are deleted after the retention; those with an answer are kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from broker.database import utcnow
from broker.registration import attempts
from broker.registration.models import AttemptStatus, RegistrationAttempt
from broker.services import Services
from tenants.services import CreatedTenant


async def test_old_abandoned_attempts_go_and_everything_else_stays(services: Services, tenant: CreatedTenant) -> None:
    long_ago = utcnow() - timedelta(days=40)
    rows = {
        "abandoned": RegistrationAttempt(status=AttemptStatus.REVIEWING, updated_at=long_ago),
        "refused before the call": RegistrationAttempt(status=AttemptStatus.FAILED, updated_at=long_ago),
        "answered": RegistrationAttempt(status=AttemptStatus.FAILED, updated_at=long_ago, response_status=201),
        "recent": RegistrationAttempt(status=AttemptStatus.FETCHING, updated_at=utcnow() - timedelta(days=1)),
    }
    async with services.database.transaction() as session:
        for row in rows.values():
            row.tenant_id, row.openid_configuration_url, row.created_at = tenant.tenant.id, "https://lms/x", long_ago
            session.add(row)
    assert await attempts.prune_abandoned(services.database, utcnow() - timedelta(days=30)) >= 2
    async with services.database.session() as session:
        kept = set(
            await session.scalars(
                select(RegistrationAttempt.id).where(RegistrationAttempt.tenant_id == tenant.tenant.id)
            )
        )
    assert kept == {rows["answered"].id, rows["recent"].id}
