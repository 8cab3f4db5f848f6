"""Registration attempts for the API: every attempt, failed ones included, with the documents exchanged.

An attempt's `id` is the reference the LMS admin saw on a failure page. Registration tokens never reach the
database; the platform's raw answer is shown with secret-looking fields redacted as well.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from broker.database import Database, json_time
from broker.redaction import redact_secret_fields
from broker.registration.models import AttemptStatus, RegistrationAttempt

STATUSES = tuple(AttemptStatus)


async def list_attempts(
    database: Database, *, tenant_id: str, status: str | None = None, after_id: str | None = None, limit: int
) -> list[RegistrationAttempt]:
    query = select(RegistrationAttempt).where(RegistrationAttempt.tenant_id == tenant_id)
    if status is not None:
        query = query.where(RegistrationAttempt.status == status)
    if after_id is not None:
        query = query.where(RegistrationAttempt.id > after_id)
    async with database.session() as session:
        return list((await session.scalars(query.order_by(RegistrationAttempt.id).limit(limit))).all())


async def registration_history(database: Database, *, registration_id: str) -> list[RegistrationAttempt]:
    """The attempts that registered or updated one registration, oldest first, each with its documents."""
    query = select(RegistrationAttempt).where(RegistrationAttempt.registration_id == registration_id)
    async with database.session() as session:
        return list((await session.scalars(query.order_by(RegistrationAttempt.id))).all())


async def get_attempt(database: Database, *, tenant_id: str, attempt_id: str) -> RegistrationAttempt | None:
    async with database.session() as session:
        return await session.scalar(
            select(RegistrationAttempt).where(
                RegistrationAttempt.id == attempt_id, RegistrationAttempt.tenant_id == tenant_id
            )
        )


def attempt_item(attempt: RegistrationAttempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "status": attempt.status,
        "openid_configuration_url": attempt.openid_configuration_url,
        "issuer": attempt.issuer,
        "product_family_code": attempt.product_family_code,
        "platform_profile": attempt.platform_profile,
        "registration_id": attempt.registration_id,
        "error_code": attempt.error_code,
        "error_detail": attempt.error_detail,
        "platform_configuration": attempt.platform_configuration,
        "registration_request": attempt.registration_request,
        "response_status": attempt.response_status,
        "response_body": _redacted_body(attempt.response_body),
        "created_at": json_time(attempt.created_at),
        "updated_at": json_time(attempt.updated_at),
    }


def _redacted_body(body: str | None) -> str | None:
    if not body:
        return body
    try:
        document = json.loads(body)
    except ValueError:
        return body  # not JSON (Moodle answers errors in plain text): shown as the platform sent it
    return json.dumps(redact_secret_fields(document))
