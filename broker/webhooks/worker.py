"""The webhook delivery worker: claims due deliveries under a lease, posts each signed event through the
guarded client, and records every attempt.

Claiming is one UPDATE … RETURNING over the due rows; on PostgreSQL it selects them
`FOR UPDATE SKIP LOCKED`, so any number of workers share the queue and no delivery is attempted by two at
once. SQLite serialises writers, which is enough for its single worker. A worker that dies mid-delivery
leaves its lease to expire; the delivery is then due again and goes out with the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker import metrics, stored_text
from broker.database import Database, changed_rows, new_id, utcnow
from broker.http_client import GuardedClient, OutboundError, Purpose
from broker.settings import Settings
from broker.webhooks.models import AttemptOutcome, DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookDeliveryAttempt
from broker.webhooks.signer import signed_headers
from tenants.models import Tenant
from tenants.services import TenantService

logger = logging.getLogger("broker.webhooks")

# A lease is far longer than one post can take (BROKER_OUTBOUND_TIMEOUT, at most 10 s: 60 s then), so a live
# worker never loses it; it is also how long the deliveries of a killed worker wait before going out again.
LEASE_PER_TIMEOUT = 6
MIN_LEASE = timedelta(seconds=5)
BATCH_SIZE = 20
MAX_RESPONSE_BODY = 2000
# Retry delays are spread by up to ±10 %, so deliveries that failed together do not all come back together.
JITTER = 0.1


@dataclass(frozen=True)
class Claim:
    delivery_id: str
    attempt_id: str
    attempt_number: int
    lease_owner: str


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


def webhook_body(event: OutboxEvent) -> bytes:
    """The exact bytes that are signed and sent."""
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()


class DeliveryWorker:
    def __init__(
        self,
        database: Database,
        client: GuardedClient,
        tenants: TenantService,
        settings: Settings,
        *,
        jitter: Callable[[], float] = lambda: random.uniform(1 - JITTER, 1 + JITTER),  # noqa: S311 - not secret
    ) -> None:
        self.database = database
        self.client = client
        self.tenants = tenants
        self.settings = settings
        self._jitter = jitter
        self.lease = max(MIN_LEASE, timedelta(seconds=LEASE_PER_TIMEOUT * settings.outbound_timeout))

    async def run_once(self) -> int:
        """Claims one batch of due deliveries and attempts each (concurrently); returns how many."""
        claims = await self.claim()
        results = await asyncio.gather(*(self.attempt(claim) for claim in claims), return_exceptions=True)
        for claim, result in zip(claims, results, strict=True):
            if isinstance(result, BaseException):
                # Its lease expires and the delivery is tried again; the error is ours, not the receiver's.
                logger.error("delivery %s failed inside the worker", claim.delivery_id, exc_info=result)
        return len(claims)

    async def claim(self, now: datetime | None = None) -> list[Claim]:
        now = now or utcnow()
        owner = secrets.token_hex(8)
        # A materialised CTE runs once: as a plain IN (subquery) PostgreSQL may run it again per row, and
        # every run skips what the last one locked, so the batch would outgrow its LIMIT.
        due = (
            select(WebhookDelivery.id)
            .where(_is_due(now))
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(BATCH_SIZE)
            .with_for_update(skip_locked=True)
            .cte("due")
            .prefix_with("MATERIALIZED")
        )
        async with self.database.transaction() as session:
            claimed = await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(select(due.c.id)), _is_due(now))
                .values(
                    lease_owner=owner,
                    lease_expires_at=now + self.lease,
                    attempt_count=WebhookDelivery.attempt_count + 1,
                    updated_at=now,
                )
                .returning(WebhookDelivery.id, WebhookDelivery.attempt_count)
                .execution_options(synchronize_session=False)
            )
            claims = [Claim(row.id, new_id("dat"), row.attempt_count, owner) for row in claimed]
            if claims:
                await _close_interrupted_attempts(session, [claim.delivery_id for claim in claims])
                session.add_all(_started_attempt(claim, now) for claim in claims)
        return claims

    async def attempt(self, claim: Claim) -> NextStep:
        """Posts the delivery's event and records what came of it."""
        async with self.database.session() as session:
            delivery = await session.get(WebhookDelivery, claim.delivery_id)
            assert delivery is not None
            event = await session.get(OutboxEvent, delivery.event_id)
            tenant = await session.get(Tenant, delivery.tenant_id)
        assert event is not None and tenant is not None
        started = time.monotonic()
        if tenant.webhook_url:
            # The tenant's current URL, so that correcting a wrong URL also rescues the deliveries queued for it.
            response = await self._post(tenant.webhook_url, tenant, event)
            step = next_step(response, claim.attempt_number, self.settings.webhook_retry_delays, self._jitter())
        else:
            response = Response(error="the tenant removed its webhook URL")
            step = NextStep(AttemptOutcome.FAILED, reason=response.error)
        duration_ms = round((time.monotonic() - started) * 1000)
        await self._record(claim, tenant.webhook_url or delivery.url, response, step, duration_ms)
        return step

    async def _post(self, url: str, tenant: Tenant, event: OutboxEvent) -> Response:
        signing_secrets = self.tenants.webhook_signing_secrets(tenant, utcnow())
        if not signing_secrets:
            return Response(error="no webhook secret is set")
        body = webhook_body(event)
        headers = signed_headers(event.id, int(time.time()), body, signing_secrets)
        headers["Content-Type"] = "application/json"
        try:
            answer = await self.client.request(
                "POST", url, purpose=Purpose.WEBHOOKS, headers=headers, content=body
            )
        except OutboundError as error:
            return Response(error=error.reason)
        return Response(status_code=answer.status_code, body=stored_text.record(answer.text)[:MAX_RESPONSE_BODY])

    async def _record(self, claim: Claim, url: str, response: Response, step: NextStep, duration_ms: int) -> None:
        now = utcnow()
        values: dict[str, object] = {
            "url": url,
            "lease_owner": None,
            "lease_expires_at": None,
            "last_status_code": response.status_code,
            "last_error": step.reason or response.error,
            "updated_at": now,
        }
        if step.outcome == AttemptOutcome.RETRYING:
            assert step.retry_in is not None
            values["next_attempt_at"] = now + timedelta(seconds=step.retry_in)
        else:
            values["status"] = DeliveryStatus(step.outcome)  # succeeded or failed, as the attempt
        async with self.database.transaction() as session:
            await session.execute(
                update(WebhookDeliveryAttempt)
                .where(WebhookDeliveryAttempt.id == claim.attempt_id)
                .values(
                    duration_ms=duration_ms,
                    status_code=response.status_code,
                    response_body=response.body,
                    error=response.error,
                    outcome=step.outcome,
                )
            )
            kept = await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == claim.delivery_id, WebhookDelivery.lease_owner == claim.lease_owner)
                .values(**values)
            )
        metrics.DELIVERIES.labels(step.outcome.value).inc()
        if changed_rows(kept) != 1:
            logger.warning("delivery %s outlived its lease; another worker has it now", claim.delivery_id)
        logger.info(
            "delivery %s attempt %d: %s (%s)",
            claim.delivery_id,
            claim.attempt_number,
            step.outcome,
            response.status_code or response.error,
        )


def _is_due(now: datetime) -> ColumnElement[bool]:
    return (
        (WebhookDelivery.status == DeliveryStatus.PENDING)
        & (WebhookDelivery.next_attempt_at <= now)
        & or_(WebhookDelivery.lease_expires_at.is_(None), WebhookDelivery.lease_expires_at <= now)
    )


def _started_attempt(claim: Claim, now: datetime) -> WebhookDeliveryAttempt:
    # Written when the post starts, so an attempt cut short by a crash still shows in the record.
    return WebhookDeliveryAttempt(
        id=claim.attempt_id,
        delivery_id=claim.delivery_id,
        number=claim.attempt_number,
        started_at=now,
        duration_ms=0,
        outcome=AttemptOutcome.IN_PROGRESS,
    )


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
