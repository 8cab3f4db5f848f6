"""The webhook delivery worker: claims due deliveries under a lease, a batch per query, posts each signed event
through the webhook poster, and records what came of the attempts in the background, all that are waiting in
one transaction.

A place is given back as soon as its post is answered, not once the outcome is recorded: the delivery keeps its
lease until then, so no other claim takes it, and the posts never wait on the database between them. A worker
that stops gracefully records everything first; one that is killed before an outcome is recorded leaves the
attempt in progress, and the delivery goes out again with the same `webhook-id` once its lease expires.

Claiming is one UPDATE … RETURNING over the due rows; on PostgreSQL it picks them `FOR UPDATE SKIP LOCKED`, so
any number of workers share the queue and no delivery is attempted by two at once. SQLite serialises writers,
which is enough for its single worker. A worker that dies mid-delivery leaves its lease to expire; the delivery
is then due again and goes out with the same `webhook-id`.

Fairness between tenants: a worker has at most PER_TENANT deliveries of one tenant under way, claimed
CLAIM_SHARE at a time, the next share once half of them are done. So a receiver that hangs holds PER_TENANT
places at most, until its timeout, and a tenant's backlog of thousands is claimed a share at a time beside every
other tenant's first due deliveries, never ahead of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Integer, bindparam, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker import log_context, metrics, stored_text
from broker.database import Database, changed_rows, new_id, utcnow
from broker.http_client import OutboundError, WebhookPoster
from broker.logs import fields
from broker.settings import Settings
from broker.webhooks.models import AttemptOutcome, DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookDeliveryAttempt
from broker.webhooks.signer import signed_headers
from tenants.models import Tenant
from tenants.services import TenantService

logger = logging.getLogger("broker.webhooks")
T = TypeVar("T")

# A lease is far longer than one post can take (BROKER_OUTBOUND_TIMEOUT, at most 10 s: 60 s then), so a live
# worker never loses it; it is also how long the deliveries of a killed worker wait before going out again.
LEASE_PER_TIMEOUT = 6
MIN_LEASE = timedelta(seconds=5)
# Deliveries under way at once in one worker, over all tenants and for one tenant. The per-tenant share is
# what one receiver's trouble can hold up; the whole is within the webhook connection pool (http_client.limits).
IN_FLIGHT = 128
PER_TENANT = 32
CLAIM_SHARE = PER_TENANT // 2
MAX_RESPONSE_BODY = 2000
# Retry delays are spread by up to ±10 %, so deliveries that failed together do not all come back together.
JITTER = 0.1


@dataclass(frozen=True)
class Claim:
    delivery_id: str
    attempt_id: str
    attempt_number: int
    lease_owner: str
    tenant_id: str = ""


@dataclass(frozen=True)
class Response:
    """What one post came to: the receiver's status and answer, or why there was none."""

    status_code: int | None = None
    body: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class NextStep:
    outcome: AttemptOutcome  # succeeded, retrying or failed
    retry_in: float | None = None
    reason: str | None = None


def next_step(response: Response, attempt_number: int, delays: Sequence[int], jitter: float) -> NextStep:
    """What follows an attempt: done on a 2xx, stopped on 410 Gone, else a retry until the delays run out.

    `jitter` is a factor near 1 (see JITTER) that scales the delay.
    """
    code = response.status_code
    if code is not None and 200 <= code < 300:
        return NextStep(AttemptOutcome.SUCCEEDED)
    if code == 410:
        return NextStep(AttemptOutcome.FAILED, reason="the receiver answered 410 Gone, which asks for no more attempts")
    if attempt_number > len(delays):
        return NextStep(AttemptOutcome.FAILED, reason=f"no 2xx answer after {attempt_number} attempts")
    return NextStep(AttemptOutcome.RETRYING, retry_in=delays[attempt_number - 1] * jitter)


def webhook_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes of an event's payload that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class _Job:
    """A claimed delivery with what its post needs, read in the transaction that claimed it."""

    claim: Claim
    event_id: str  # the webhook-id
    payload: dict[str, Any]
    tenant_slug: str
    url: str | None  # the tenant's current webhook URL
    signing_secrets: list[str]
    queued_url: str  # the URL when the delivery was queued, recorded if the tenant has none any more


@dataclass(frozen=True)
class _Outcome:
    claim: Claim
    url: str
    response: Response
    step: NextStep
    duration_ms: int
    tenant_slug: str
    event_id: str


class DeliveryWorker:
    def __init__(
        self,
        database: Database,
        poster: WebhookPoster,
        tenants: TenantService,
        settings: Settings,
        *,
        jitter: Callable[[], float] = lambda: random.uniform(1 - JITTER, 1 + JITTER),  # noqa: S311 - not secret
    ) -> None:
        self.database = database
        self.poster = poster
        self.tenants = tenants
        self.settings = settings
        self._jitter = jitter
        self.lease = max(MIN_LEASE, timedelta(seconds=LEASE_PER_TIMEOUT * settings.outbound_timeout))
        self._under_way: Counter[str] = Counter()  # claimed and not yet recorded, by tenant id
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._recorder = _BackgroundWriter(self._record_all)

    async def run_once(self) -> int:
        """Claims the deliveries due now (as many as there is room for) and attempts each, concurrently;
        returns how many, once all are recorded."""
        jobs = await self._claim_jobs()
        await asyncio.gather(*(self._deliver(job) for job in jobs))
        await self._recorder.flush()
        return len(jobs)

    async def start_due(self) -> bool:
        """Claims the deliveries due now (as many as there is room for) and starts posting them without waiting
        for the answers. True when claiming again at once may find more: a tenant had a whole share claimed
        and still has room. Else `room_made` tells when it may."""
        jobs = await self._claim_jobs()
        for job in jobs:
            task = asyncio.create_task(self._deliver(job), name=f"webhook delivery {job.claim.delivery_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        shares = Counter(job.claim.tenant_id for job in jobs)
        return self._under_way.total() < IN_FLIGHT and any(
            count == CLAIM_SHARE and not self._busy(tenant_id) for tenant_id, count in shares.items()
        )

    def _busy(self, tenant_id: str) -> bool:
        """Whether the tenant's next share would take it over PER_TENANT under way."""
        return self._under_way[tenant_id] > PER_TENANT - CLAIM_SHARE

    async def room_made(self) -> None:
        """Waits until a tenant may have its next share claimed, or the worker is no longer full."""
        await self._room.wait()
        self._room.clear()

    async def finish(self) -> None:
        """Waits until every delivery started is posted and recorded."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._recorder.flush()

    async def claim(self, now: datetime | None = None) -> list[Claim]:
        return [job.claim for job in await self._claim_jobs(now)]

    async def attempt(self, claim: Claim) -> None:
        """Posts a claimed delivery's event and records what came of it."""
        async with self.database.session() as session:
            delivery = await session.get(WebhookDelivery, claim.delivery_id)
            assert delivery is not None
            (job,) = await self._jobs(session, [claim], {claim.delivery_id: (delivery.event_id, delivery.url)})
        self._under_way[claim.tenant_id] += 1
        await self._deliver(job)
        await self._recorder.flush()

    async def _claim_jobs(self, now: datetime | None = None) -> list[_Job]:
        now = now or utcnow()
        room = IN_FLIGHT - self._under_way.total()
        if room <= 0:
            return []
        owner = secrets.token_hex(8)
        busy = [tenant_id for tenant_id in self._under_way if self._busy(tenant_id)]
        claim = _CLAIM_SQLITE if self.database.is_sqlite else _CLAIM_POSTGRESQL
        values = {"b_now": now, "b_busy": busy, "b_room": room, "b_owner": owner, "b_lease": now + self.lease}
        async with self.database.transaction() as session:
            claimed = (await session.execute(claim, values)).all()
            if not claimed:
                return []
            claims = [Claim(row.id, new_id("dat"), row.attempt_count, owner, row.tenant_id) for row in claimed]
            retried = [claim.delivery_id for claim in claims if claim.attempt_number > 1]
            if retried:
                await _close_interrupted_attempts(session, retried)
            await session.execute(insert(_ATTEMPTS), [_started_attempt(claim, now) for claim in claims])
            jobs = await self._jobs(session, claims, {row.id: (row.event_id, row.url) for row in claimed})
        self._under_way.update(claim.tenant_id for claim in claims)
        return jobs

    async def _jobs(self, session: AsyncSession, claims: list[Claim], queued: dict[str, tuple[str, str]]) -> list[_Job]:
        """The events and tenants of the claimed deliveries, one query each, and each tenant's secrets once."""
        event_ids = {event_id for event_id, _ in queued.values()}
        payloads = {
            row.id: row.payload for row in await session.execute(_EVENT_PAYLOADS, {"b_ids": list(event_ids)})
        }
        tenant_ids = {claim.tenant_id for claim in claims}
        tenants = {tenant.id: tenant for tenant in await session.scalars(_TENANTS, {"b_ids": list(tenant_ids)})}
        now = utcnow()
        signing = {
            tenant_id: self.tenants.webhook_signing_secrets(tenant, now) for tenant_id, tenant in tenants.items()
        }
        return [
            _Job(
                claim=claim,
                event_id=queued[claim.delivery_id][0],
                payload=payloads[queued[claim.delivery_id][0]],
                tenant_slug=tenants[claim.tenant_id].slug,
                url=tenants[claim.tenant_id].webhook_url,
                signing_secrets=signing[claim.tenant_id],
                queued_url=queued[claim.delivery_id][1],
            )
            for claim in claims
        ]

    async def _deliver(self, job: _Job) -> None:
        with _about(job.claim, job.tenant_slug, job.event_id):
            try:
                self._recorder.add(await self._attempt(job))
            except Exception:
                # Its lease expires and the delivery is tried again; the error is ours, not the receiver's.
                logger.exception("delivery %s failed inside the worker", job.claim.delivery_id)
            finally:
                self._done(job.claim.tenant_id)

    def _done(self, tenant_id: str) -> None:
        was_full = self._under_way.total() >= IN_FLIGHT
        self._under_way[tenant_id] -= 1
        left = self._under_way[tenant_id]
        if left <= 0:
            del self._under_way[tenant_id]
        if was_full or left == PER_TENANT - CLAIM_SHARE:
            self._room.set()  # the tenant's next share may be claimed (or anyone's, when the worker was full)

    async def _attempt(self, job: _Job) -> _Outcome:
        started = time.monotonic()
        if job.url:
            # The tenant's current URL, so that correcting a wrong URL also rescues the deliveries queued for it.
            response = await self._post(job)
            step = next_step(response, job.claim.attempt_number, self.settings.webhook_retry_delays, self._jitter())
        else:
            response = Response(error="the tenant removed its webhook URL")
            step = NextStep(AttemptOutcome.FAILED, reason=response.error)
        duration_ms = round((time.monotonic() - started) * 1000)
        url = job.url or job.queued_url
        return _Outcome(job.claim, url, response, step, duration_ms, job.tenant_slug, job.event_id)

    async def _post(self, job: _Job) -> Response:
        assert job.url is not None
        if not job.signing_secrets:
            return Response(error="no webhook secret is set")
        body = webhook_body(job.payload)
        headers = signed_headers(job.event_id, int(time.time()), body, job.signing_secrets)
        headers["Content-Type"] = "application/json"
        try:
            answer = await self.poster.post(job.url, body, headers)
        except OutboundError as error:
            return Response(error=error.reason)
        return Response(status_code=answer.status_code, body=stored_text.record(answer.text)[:MAX_RESPONSE_BODY])

    async def _record_all(self, outcomes: list[_Outcome]) -> None:
        """The attempts and their deliveries, in one transaction; a delivery whose lease another worker has taken
        meanwhile keeps that worker's state."""
        now = utcnow()
        retrying = [outcome for outcome in outcomes if outcome.step.outcome == AttemptOutcome.RETRYING]
        finished = [outcome for outcome in outcomes if outcome.step.outcome != AttemptOutcome.RETRYING]
        async with self.database.transaction() as session:
            await session.execute(_RECORD_ATTEMPT, [_attempt_values(outcome) for outcome in outcomes])
            kept = 0
            if retrying:
                rows = [_delivery_values(outcome, now) for outcome in retrying]
                for row, outcome in zip(rows, retrying, strict=True):
                    assert outcome.step.retry_in is not None
                    row["b_next_attempt_at"] = now + timedelta(seconds=outcome.step.retry_in)
                kept += changed_rows(await session.execute(_RECORD_RETRY, rows))
            if finished:
                rows = [_delivery_values(outcome, now) for outcome in finished]
                for row, outcome in zip(rows, finished, strict=True):
                    row["b_status"] = DeliveryStatus(outcome.step.outcome)  # succeeded or failed, as the attempt
                kept += changed_rows(await session.execute(_RECORD_END, rows))
        if kept != len(outcomes):
            logger.warning("%d deliveries outlived their lease; other workers have them now", len(outcomes) - kept)
        for outcome in outcomes:
            metrics.DELIVERIES.labels(outcome.step.outcome.value).inc()
            with _about(outcome.claim, outcome.tenant_slug, outcome.event_id):
                _log_attempt(outcome)


def _about(claim: Claim, tenant_slug: str, event_id: str) -> contextlib.AbstractContextManager[log_context.LogContext]:
    """The log context of a delivery's lines."""
    return log_context.about(
        tenant=tenant_slug, attempt_id=claim.attempt_id, delivery_id=claim.delivery_id, event_id=event_id
    )


def _log_attempt(outcome: _Outcome) -> None:
    """The attempt's line, once recorded."""
    response = outcome.response
    logger.info(
        "delivery %s attempt %d: %s (%s)",
        outcome.claim.delivery_id, outcome.claim.attempt_number, outcome.step.outcome,
        response.status_code or response.error,
        extra=fields(
            attempt=outcome.claim.attempt_number, outcome=outcome.step.outcome.value,
            status_code=response.status_code, error=response.error, duration_ms=outcome.duration_ms,
        ),
    )  # fmt: skip


class _BackgroundWriter(Generic[T]):
    """Writes items in a task of its own: those added while one write is under way go together in the next,
    so there are as many transactions as turns at the database, and whoever adds an item never waits for it."""

    def __init__(self, write: Callable[[list[T]], Awaitable[None]]) -> None:
        self._write = write
        self._waiting: list[T] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, item: T) -> None:
        self._waiting.append(item)
        if self._task is None or self._task.done():
            # A context of its own: its lines are about no one delivery (the adder's context is one delivery's).
            self._task = asyncio.create_task(self._run(), name="webhook outcomes", context=contextvars.Context())

    async def flush(self) -> None:
        """Waits until every item added so far is written (or its write has failed, and been logged)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._write(batch)
            except Exception:
                # Their leases expire and the deliveries go out again, the attempts marked interrupted.
                logger.exception("recording %d delivery outcomes failed", len(batch))


def _claim(*, postgresql: bool) -> Any:
    """The claim, built once (its parameters: b_now, b_busy, b_room, b_owner, b_lease): the due deliveries chosen
    by `_due` leased to b_owner, with what their posts need."""
    due = _due(postgresql=postgresql)
    return (
        update(_DELIVERIES)
        .where(_DELIVERIES.c.id.in_(select(due.c.id)), _is_due(_NOW))
        .values(
            lease_owner=bindparam("b_owner"),
            lease_expires_at=bindparam("b_lease", type_=_DELIVERIES.c.lease_expires_at.type),
            attempt_count=_DELIVERIES.c.attempt_count + 1,
            updated_at=_NOW,
        )
        .returning(
            _DELIVERIES.c.id,
            _DELIVERIES.c.attempt_count,
            _DELIVERIES.c.tenant_id,
            _DELIVERIES.c.event_id,
            _DELIVERIES.c.url,
        )
    )


def _due(*, postgresql: bool) -> Any:
    """The ids of the deliveries to claim: at most CLAIM_SHARE for each tenant not in b_busy, b_room in all,
    oldest first, the first due of every tenant before the second of any (a CTE, materialised, so it runs once:
    as a plain IN (subquery) PostgreSQL may run it again per row, and every run skips what the last one locked,
    so the batch would outgrow its limit)."""
    due = _is_due(_NOW) & _DELIVERIES.c.tenant_id.not_in(bindparam("b_busy", expanding=True))
    if postgresql:
        # Rows locked by another worker's claim are skipped, so workers never wait for each other. Locking
        # cannot go with a window function, hence a LATERAL per due tenant for its share.
        tenants = select(_DELIVERIES.c.tenant_id).where(due).distinct().subquery("due_tenants")
        share = (
            select(_DELIVERIES.c.id, _DELIVERIES.c.next_attempt_at)
            .where(_DELIVERIES.c.tenant_id == tenants.c.tenant_id, _is_due(_NOW))
            .order_by(_DELIVERIES.c.next_attempt_at)
            .limit(CLAIM_SHARE)
            .with_for_update(skip_locked=True)
        )
        picked = share.lateral("picked")
        chosen = select(picked.c.id).select_from(tenants.join(picked, true())).order_by(picked.c.next_attempt_at)
    else:
        rank = func.row_number().over(
            partition_by=_DELIVERIES.c.tenant_id, order_by=(_DELIVERIES.c.next_attempt_at, _DELIVERIES.c.id)
        )
        ranked = select(_DELIVERIES.c.id, _DELIVERIES.c.next_attempt_at, rank.label("rank")).where(due)
        ranked_rows = ranked.subquery("ranked")
        chosen = (
            select(ranked_rows.c.id)
            .where(ranked_rows.c.rank <= CLAIM_SHARE)
            .order_by(ranked_rows.c.rank, ranked_rows.c.next_attempt_at)
        )
    return chosen.limit(bindparam("b_room", type_=Integer())).cte("due").prefix_with("MATERIALIZED")


# The Tables (`__table__` is typed as any FROM): their UPDATEs run once per row of a list (executemany).
_ATTEMPTS = WebhookDeliveryAttempt.metadata.tables[WebhookDeliveryAttempt.__tablename__]
_DELIVERIES = WebhookDelivery.metadata.tables[WebhookDelivery.__tablename__]
_RECORD_ATTEMPT = (
    update(_ATTEMPTS)
    .where(_ATTEMPTS.c.id == bindparam("b_id"))
    .values(
        duration_ms=bindparam("b_duration_ms"),
        status_code=bindparam("b_status_code"),
        response_body=bindparam("b_response_body"),
        error=bindparam("b_error"),
        outcome=bindparam("b_outcome"),
    )
)
_DELIVERY_OUTCOME: dict[str, Any] = {
    "url": bindparam("b_url"),
    "lease_owner": None,
    "lease_expires_at": None,
    "last_status_code": bindparam("b_last_status_code"),
    "last_error": bindparam("b_last_error"),
    "updated_at": bindparam("b_updated_at"),
}
_THIS_LEASE = (_DELIVERIES.c.id == bindparam("b_delivery_id")) & (_DELIVERIES.c.lease_owner == bindparam("b_owner"))
_RECORD_RETRY = (
    update(_DELIVERIES).where(_THIS_LEASE).values(**_DELIVERY_OUTCOME, next_attempt_at=bindparam("b_next_attempt_at"))
)
_RECORD_END = update(_DELIVERIES).where(_THIS_LEASE).values(**_DELIVERY_OUTCOME, status=bindparam("b_status"))
_NOW: ColumnElement[datetime] = bindparam("b_now", type_=_DELIVERIES.c.next_attempt_at.type)
_EVENTS = OutboxEvent.metadata.tables[OutboxEvent.__tablename__]
_EVENT_PAYLOADS = select(_EVENTS.c.id, _EVENTS.c.payload).where(_EVENTS.c.id.in_(bindparam("b_ids", expanding=True)))
_TENANTS = select(Tenant).where(Tenant.id.in_(bindparam("b_ids", expanding=True)))


def _attempt_values(outcome: _Outcome) -> dict[str, object]:
    return {
        "b_id": outcome.claim.attempt_id,
        "b_duration_ms": outcome.duration_ms,
        "b_status_code": outcome.response.status_code,
        "b_response_body": outcome.response.body,
        "b_error": outcome.response.error,
        "b_outcome": outcome.step.outcome,
    }


def _delivery_values(outcome: _Outcome, now: datetime) -> dict[str, object]:
    return {
        "b_delivery_id": outcome.claim.delivery_id,
        "b_owner": outcome.claim.lease_owner,
        "b_url": outcome.url,
        "b_last_status_code": outcome.response.status_code,
        "b_last_error": outcome.step.reason or outcome.response.error,
        "b_updated_at": now,
    }


def _is_due(now: ColumnElement[datetime]) -> ColumnElement[bool]:
    return (
        (_DELIVERIES.c.status == DeliveryStatus.PENDING)
        & (_DELIVERIES.c.next_attempt_at <= now)
        & or_(_DELIVERIES.c.lease_expires_at.is_(None), _DELIVERIES.c.lease_expires_at <= now)
    )


def _started_attempt(claim: Claim, now: datetime) -> dict[str, object]:
    # Written when the post starts, so an attempt cut short by a crash still shows in the record.
    return {
        "id": claim.attempt_id,
        "delivery_id": claim.delivery_id,
        "number": claim.attempt_number,
        "started_at": now,
        "duration_ms": 0,
        "outcome": AttemptOutcome.IN_PROGRESS,
    }


async def _close_interrupted_attempts(session: AsyncSession, delivery_ids: list[str]) -> None:
    await session.execute(
        update(WebhookDeliveryAttempt)
        .where(
            WebhookDeliveryAttempt.delivery_id.in_(delivery_ids),
            WebhookDeliveryAttempt.outcome == AttemptOutcome.IN_PROGRESS,
        )
        .values(
            outcome=AttemptOutcome.INTERRUPTED, error="the worker stopped before the receiver answered; tried again"
        )
    )


# Built once: a claim goes out every few dozen posts, and building and compiling it each time was a sixth of the
# worker's CPU.
_CLAIM_POSTGRESQL = _claim(postgresql=True)
_CLAIM_SQLITE = _claim(postgresql=False)
