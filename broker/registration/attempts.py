"""Registration attempts: the record of every attempt as it goes (opened, updated, failed, finished), and
the attempts as the API shows them, failed ones included, with the documents exchanged.

An attempt's `id` is the reference the LMS admin saw on a failure page. Registration tokens never reach the
database; the platform's raw answer is shown with secret-looking fields redacted as well.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Row, Select, bindparam, delete, insert, select, union_all, update

from broker import log_context, stored_text
from broker.database import Database, changed_rows, new_id, utcnow
from broker.direct_sql import Statements
from broker.limits.store import Joining
from broker.redaction import redact_url
from broker.registration import errors
from broker.registration.models import FAILED_ATTEMPT, FAILURES, AttemptStatus, RegistrationAttempt
from tenants.models import Tenant

STATUSES = tuple(AttemptStatus)
MAX_ERROR_DETAIL = 4000
# Far longer than any step takes: a step is one outbound call (bounded by the client's timeouts and its wait
# for a pooled connection) between two short writes.
STALLED_AFTER = timedelta(minutes=10)
INTERRUPTED_DETAIL = {
    AttemptStatus.FETCHING: (
        "The registration stopped before the platform's configuration was read (the broker restarted). "
        "Nothing was sent to the platform: start the registration again from the LMS."
    ),
    AttemptStatus.SUBMITTING: (
        "The registration stopped while it was being sent to the platform (the broker restarted), so the "
        "platform may have registered the tool without our knowing its answer. Check the LMS's tool list: "
        "remove this tool's new entry there if it has one, then start the registration again from the LMS."
    ),
}


# The flow's own writes are Core statements built once, on the database's statement connections: an ORM
# session and a statement built per call cost more than the write itself.
_INSERT = insert(RegistrationAttempt)
_UPDATE = update(RegistrationAttempt).where(RegistrationAttempt.id == bindparam("attempt_id"))
_CLAIM = _UPDATE.where(
    RegistrationAttempt.tenant_id == bindparam("tenant"), RegistrationAttempt.status == AttemptStatus.REVIEWING
)
_STATUS = select(RegistrationAttempt.status).where(RegistrationAttempt.id == bindparam("attempt_id"))
_REVIEWED = select(
    RegistrationAttempt.status, RegistrationAttempt.platform_configuration, RegistrationAttempt.openid_configuration_url
).where(RegistrationAttempt.id == bindparam("attempt_id"), RegistrationAttempt.tenant_id == bindparam("tenant"))


class StepLimits(Protocol):
    """The limits on a step that calls the platform for an anonymous caller (broker/limits/public.py), taken in
    the step's own writes so that they commit with the attempt: `enter` in the write before the call (it raises
    to refuse the step, rolling that write back), `leave` in the write that records what came of it."""

    async def enter(self, connection: Joining) -> None: ...

    async def leave(self, connection: Joining) -> None: ...


class Unlimited:
    """No limits on the step (a caller that is not an anonymous page)."""

    async def enter(self, connection: Joining) -> None:
        """Nothing to take."""

    async def leave(self, connection: Joining) -> None:
        """Nothing to give back."""


UNLIMITED = Unlimited()


class AlsoWritten(Protocol):
    """Another concern's writes that commit with a step's own: a platform's signing key, bound in the write that
    puts the submission on record (tenants.platform_bound_keys.KeyBinding)."""

    async def write(self, statements: Statements) -> None: ...


async def open_attempt(
    database: Database, tenant_id: str, configuration_url: str, limits: StepLimits = UNLIMITED
) -> str:
    """A new attempt, fetching the platform's configuration, in the write that enters the step's `limits`; its
    URL is kept with every query value redacted."""
    attempt_id = new_id("att")
    values = {
        "id": attempt_id,
        "tenant_id": tenant_id,
        "status": AttemptStatus.FETCHING,
        # Redaction can lengthen a URL whose values were shorter than the marker that replaces them.
        "openid_configuration_url": stored_text.record(
            redact_url(configuration_url, all_values=True), stored_text.URL_LENGTH
        ),
    }
    async with database.ephemeral() as connection:
        await limits.enter(connection)
        await connection.execute(_INSERT, values)
    log_context.bind(attempt_id=attempt_id)
    return attempt_id


async def prune_abandoned(database: Database, before: datetime) -> int:
    """Deletes attempts last changed before `before` that never got an answer from a platform's registration
    endpoint (abandoned at the review, refused before the call, cut off): anyone can start them, so they
    would pile up. Attempts with a platform answer, and those of a registration, are kept."""
    async with database.transaction() as session:
        deleted = await session.execute(
            delete(RegistrationAttempt).where(
                # Implied by the next condition; the index SQLite keeps of abandoned attempts is by when they began.
                RegistrationAttempt.created_at < before,
                RegistrationAttempt.updated_at < before,
                RegistrationAttempt.response_status.is_(None),
                RegistrationAttempt.registration_id.is_(None),
            )
        )
    return changed_rows(deleted)


async def update_attempt(
    database: Database,
    attempt_id: str,
    leaving: StepLimits = UNLIMITED,
    *,
    also: AlsoWritten | None = None,
    **values: Any,
) -> None:
    """Writes `values`, in the write that leaves the step's limits when `leaving` names them, with `also`."""
    async with database.ephemeral() as connection:
        await write_attempt(connection, attempt_id, **values)
        await leaving.leave(connection)
        if also is not None:
            await also.write(connection)


def failure(attempt_id: str, error: errors.RegistrationError, *, code: str | None = None) -> dict[str, Any]:
    """An attempt's values once it failed (its code is the refusal's class name); makes the attempt the
    refusal's reference."""
    error.reference = attempt_id
    return {
        "status": AttemptStatus.FAILED,
        "error_code": code or type(error).__name__,
        "error_detail": stored_text.record(error.detail, MAX_ERROR_DETAIL),
    }


async def fail_attempt(
    database: Database, attempt_id: str, error: errors.RegistrationError, *, code: str | None = None, **values: Any
) -> None:
    """Records the failure, and `values` (what was learnt before it) with it, in one statement."""
    await update_attempt(database, attempt_id, **values, **failure(attempt_id, error, code=code))


async def interrupt_stalled(database: Database) -> int:
    """Marks `interrupted` the attempts left fetching or submitting for longer than STALLED_AFTER, each with
    what to do; how many it marked. Reviewing attempts wait for a person and expire with their form."""
    cutoff = utcnow() - STALLED_AFTER
    marked = 0
    async with database.transaction() as session:
        for status, detail in INTERRUPTED_DETAIL.items():
            result = await session.execute(
                update(RegistrationAttempt)
                .where(RegistrationAttempt.status == status, RegistrationAttempt.updated_at < cutoff)
                .values(status=AttemptStatus.INTERRUPTED, error_detail=detail, updated_at=utcnow())
            )
            marked += changed_rows(result)
    return marked


@dataclass(frozen=True)
class ReviewedAttempt:
    """What the review form's post needs of its attempt: the platform's document as stored, and its URL."""

    id: str
    platform_configuration: dict[str, Any] | None
    openid_configuration_url: str


async def reviewed_attempt(database: Database, tenant_id: str, attempt_id: str) -> ReviewedAttempt:
    """The attempt a review form belongs to, while it still waits for that form (read only: the form is spent
    by `claim_reviewed_attempt`)."""
    row = (await database.read(_REVIEWED, {"attempt_id": attempt_id, "tenant": tenant_id})).first()
    if row is None:
        raise errors.ReviewExpiredError("This registration form is unknown.")
    log_context.bind(attempt_id=attempt_id)
    if row.status != AttemptStatus.REVIEWING:
        raise _already_submitted(attempt_id, row.status)
    return ReviewedAttempt(attempt_id, row.platform_configuration, row.openid_configuration_url)


async def claim_reviewed_attempt(
    database: Database,
    tenant_id: str,
    attempt_id: str,
    entering: StepLimits = UNLIMITED,
    *,
    also: AlsoWritten | None = None,
    **values: Any,
) -> None:
    """Moves a reviewed attempt on (to submitting with its request, or to failed), in one statement, so a form
    posted twice is used once: the second post gets AlreadySubmittedError. The claim is the write that enters
    the step's limits when `entering` names them; `also` is written with it when the claim holds."""
    async with database.ephemeral() as connection:
        await entering.enter(connection)
        claimed = await connection.execute(
            _CLAIM, {"attempt_id": attempt_id, "tenant": tenant_id, "updated_at": utcnow(), **values}
        )
        status = None
        if changed_rows(claimed) != 1:
            status = await connection.scalar(_STATUS, {"attempt_id": attempt_id})
        elif also is not None:
            await also.write(connection)
    if status is not None:
        raise _already_submitted(attempt_id, status)


def _already_submitted(attempt_id: str, status: str) -> errors.AlreadySubmittedError:
    return errors.AlreadySubmittedError(
        f"This form was already submitted (the registration is {status}).", reference=attempt_id
    )


async def write_attempt(connection: Joining, attempt_id: str, **values: Any) -> None:
    """Writes `values` inside the caller's transaction."""
    await connection.execute(_UPDATE, {"attempt_id": attempt_id, "updated_at": utcnow(), **values})


async def finish_attempt(connection: Joining, attempt_id: str, registration_id: str, **values: Any) -> None:
    """Marks the attempt succeeded, with `values` (the platform's answer), inside the transaction that stores
    its registration."""
    await write_attempt(
        connection, attempt_id, status=AttemptStatus.SUCCEEDED, registration_id=registration_id, **values
    )


async def conflict_attempt(
    connection: Joining, attempt_id: str, error: errors.RegistrationError, **values: Any
) -> None:
    """Marks the attempt `conflict`, with `values` (the platform's answer), inside the transaction that
    announces it to the registration's owner."""
    error.reference = attempt_id
    await write_attempt(
        connection,
        attempt_id,
        status=AttemptStatus.CONFLICT,
        error_code=type(error).__name__,
        error_detail=error.detail[:MAX_ERROR_DETAIL],
        **values,
    )


def _tenant_page(
    query: Select[Any], tenant_id: str, status: str | None, after_id: str | None, limit: int
) -> Select[Any]:
    """`query` narrowed to a page of a tenant's attempts, oldest first, after `after_id`."""
    query = query.where(RegistrationAttempt.tenant_id == tenant_id)
    if status is not None:
        query = query.where(RegistrationAttempt.status == status)
    if after_id is not None:
        query = query.where(RegistrationAttempt.id > after_id)
    return query.order_by(RegistrationAttempt.id).limit(limit)


async def list_attempts(
    database: Database, *, tenant_id: str, status: str | None = None, after_id: str | None = None, limit: int
) -> list[RegistrationAttempt]:
    query = _tenant_page(select(RegistrationAttempt), tenant_id, status, after_id, limit)
    async with database.session() as session:
        return list((await session.scalars(query)).all())


# The columns an attempt item shows, read as plain rows for the API's pages (cheaper than ORM objects).
SHOWN_COLUMNS = (
    RegistrationAttempt.id,
    RegistrationAttempt.status,
    RegistrationAttempt.openid_configuration_url,
    RegistrationAttempt.issuer,
    RegistrationAttempt.product_family_code,
    RegistrationAttempt.platform_profile,
    RegistrationAttempt.registration_id,
    RegistrationAttempt.error_code,
    RegistrationAttempt.error_detail,
    RegistrationAttempt.platform_configuration,
    RegistrationAttempt.registration_request,
    RegistrationAttempt.response_status,
    RegistrationAttempt.response_body,
    RegistrationAttempt.created_at,
    RegistrationAttempt.updated_at,
)


async def attempt_page(
    database: Database, *, tenant_id: str, status: str | None = None, after_id: str | None = None, limit: int
) -> list[Row[Any]]:
    """A page of a tenant's attempts, oldest first, as `SHOWN_COLUMNS`."""
    query = _tenant_page(select(*SHOWN_COLUMNS), tenant_id, status, after_id, limit)
    async with database.session() as session:
        return list((await session.execute(query)).all())


async def recent_attempts(
    database: Database, *, statuses: Collection[str], limit: int
) -> list[tuple[RegistrationAttempt, str]]:
    """The attempts of these statuses across every tenant that changed last, newest first, each with its
    tenant's slug (for the operator: an attempt a restart cut off failed when it was marked, not when it began)."""
    # The newest `limit` of each status, read backwards along (status, updated_at), then merged: a sort of every
    # failure ever recorded (a sequential scan) is what `status IN (...) ORDER BY updated_at` costs otherwise.
    newest_first = (RegistrationAttempt.updated_at.desc(), RegistrationAttempt.id.desc())
    newest = select(RegistrationAttempt.id).order_by(*newest_first).limit(limit)
    if database.is_sqlite and set(statuses) <= set(FAILURES):
        # Implied by each status: it names SQLite's index of the failures (PostgreSQL's holds every status).
        newest = newest.where(FAILED_ATTEMPT)
    latest = union_all(
        *(select(newest.where(RegistrationAttempt.status == status).subquery()) for status in statuses)
    ).subquery()
    query = (
        select(RegistrationAttempt, Tenant.slug)
        .join(latest, latest.c.id == RegistrationAttempt.id)
        .join(Tenant, Tenant.id == RegistrationAttempt.tenant_id)
        .order_by(*newest_first)
    )
    async with database.session() as session:
        return [(attempt, slug) for attempt, slug in (await session.execute(query.limit(limit))).all()]


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


async def claim_verify_form(
    database: Database, tenant_id: str, attempt_id: str, registration_id: str, number: int
) -> bool:
    """Spends the confirmation page's Verify form number `number`, in one statement: a form works once."""
    async with database.transaction() as session:
        claimed = await session.execute(
            update(RegistrationAttempt)
            .where(
                RegistrationAttempt.id == attempt_id,
                RegistrationAttempt.tenant_id == tenant_id,
                RegistrationAttempt.registration_id == registration_id,
                RegistrationAttempt.verify_uses == number,
            )
            .values(verify_uses=number + 1)
        )
    return changed_rows(claimed) == 1
