"""A platform client (issuer, client_id) belongs to one tenant: duplicates are resolved, then forbidden.

Before this revision a platform could answer tenant B's registration with tenant A's client_id (Moodle does when
an admin accepts its offer to update the tool it found on the same domain), and the broker filed a second
registration under B. For each (issuer, client_id) live under more than one tenant, the upgrade keeps the
oldest active registration (the oldest pending one when none is active), disables the others, and records a
`registration.conflict` event for every tenant involved, its registration as it now stands. Then a unique
index over (issuer, client_id) of the registrations that are not disabled keeps it so.

The event payloads are written from the columns of this revision, in the item shape of this revision.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 08:05:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import broker.database

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "status != 'disabled'"
Time = broker.database.UTCDateTime(timezone=True)

registrations = sa.table(
    "registrations",
    sa.column("id", sa.String),
    sa.column("tenant_id", sa.String),
    sa.column("issuer", sa.String),
    sa.column("client_id", sa.String),
    sa.column("status", sa.String),
    sa.column("jwks_uri", sa.String),
    sa.column("token_endpoint", sa.String),
    sa.column("authorization_endpoint", sa.String),
    sa.column("authorization_server", sa.String),
    sa.column("registration_endpoint", sa.String),
    sa.column("product_family_code", sa.String),
    sa.column("platform_version", sa.String),
    sa.column("platform_profile", sa.String),
    sa.column("adaptations", sa.JSON),
    sa.column("scopes_requested", sa.JSON),
    sa.column("scopes_granted", sa.JSON),
    sa.column("scope_drift", sa.JSON),
    sa.column("verified_at", Time),
    sa.column("launched_at", Time),
    sa.column("created_at", Time),
    sa.column("updated_at", Time),
)
deployments = sa.table(
    "deployments", sa.column("registration_id", sa.String), sa.column("deployment_id", sa.String),
    sa.column("id", sa.Integer),
)
tenants = sa.table(
    "tenants", sa.column("id", sa.String), sa.column("event_sequence", sa.Integer),
    sa.column("webhook_url", sa.String),
)
outbox_events = sa.table(
    "outbox_events", sa.column("id", sa.String), sa.column("tenant_id", sa.String), sa.column("sequence", sa.Integer),
    sa.column("type", sa.String), sa.column("payload", sa.JSON), sa.column("created_at", Time),
)
webhook_deliveries = sa.table(
    "webhook_deliveries", sa.column("id", sa.String), sa.column("event_id", sa.String),
    sa.column("tenant_id", sa.String), sa.column("url", sa.String), sa.column("trigger", sa.String),
    sa.column("status", sa.String), sa.column("attempt_count", sa.Integer), sa.column("next_attempt_at", Time),
    sa.column("created_at", Time), sa.column("updated_at", Time),
)


def upgrade() -> None:
    connection = op.get_bind()
    for issuer, client_id in _shared_clients(connection):
        _resolve(connection, issuer, client_id)
    op.create_index(
        "uq_registrations_live_client", "registrations", ["issuer", "client_id"], unique=True,
        sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_registrations_live_client", table_name="registrations")


def _shared_clients(connection: sa.Connection) -> list[tuple[str, str]]:
    query = (
        sa.select(registrations.c.issuer, registrations.c.client_id)
        .where(registrations.c.status != "disabled")
        .group_by(registrations.c.issuer, registrations.c.client_id)
        .having(sa.func.count() > 1)
    )
    return [(row.issuer, row.client_id) for row in connection.execute(query)]


def _resolve(connection: sa.Connection, issuer: str, client_id: str) -> None:
    rows = connection.execute(
        sa.select(registrations.c.id, registrations.c.status)
        .where(registrations.c.issuer == issuer, registrations.c.client_id == client_id, sa.text(LIVE))
        .order_by(registrations.c.created_at, registrations.c.id)
    ).all()
    active = [row.id for row in rows if row.status == "active"]
    keep = active[0] if active else rows[0].id
    now = datetime.now(UTC)
    for row in rows:
        if row.id != keep:
            connection.execute(
                sa.update(registrations).where(registrations.c.id == row.id).values(status="disabled", updated_at=now)
            )
    for row in rows:
        _record_conflict(connection, row.id, now)


def _record_conflict(connection: sa.Connection, registration_id: str, now: datetime) -> None:
    registration = connection.execute(sa.select(registrations).where(registrations.c.id == registration_id)).one()
    tenant = connection.execute(sa.select(tenants).where(tenants.c.id == registration.tenant_id)).one()
    sequence = tenant.event_sequence + 1
    connection.execute(sa.update(tenants).where(tenants.c.id == tenant.id).values(event_sequence=sequence))
    event_id = broker.database.new_id("msg")
    payload = {
        "type": "registration.conflict",
        "timestamp": broker.database.json_time(now),
        "data": _item(connection, registration),
    }
    connection.execute(
        sa.insert(outbox_events).values(
            id=event_id, tenant_id=tenant.id, sequence=sequence, type="registration.conflict", payload=payload,
            created_at=now,
        )
    )
    if tenant.webhook_url:
        connection.execute(
            sa.insert(webhook_deliveries).values(
                id=broker.database.new_id("dlv"), event_id=event_id, tenant_id=tenant.id, url=tenant.webhook_url,
                trigger="event", status="pending", attempt_count=0, next_attempt_at=now, created_at=now, updated_at=now,
            )
        )


def _item(connection: sa.Connection, row: Any) -> dict[str, Any]:
    """The registration as the API showed it at this revision."""
    deployment_ids = connection.execute(
        sa.select(deployments.c.deployment_id)
        .where(deployments.c.registration_id == row.id)
        .order_by(deployments.c.id)
    ).scalars().all()
    granted = list(row.scopes_granted or [])
    missing = [scope for scope in row.scopes_requested or [] if scope not in granted]
    return {
        "id": row.id,
        "issuer": row.issuer,
        "client_id": row.client_id,
        "deployment_ids": list(deployment_ids),
        "jwks_uri": row.jwks_uri,
        "token_endpoint": row.token_endpoint,
        "authorization_endpoint": row.authorization_endpoint,
        "authorization_server": row.authorization_server,
        "registration_endpoint": row.registration_endpoint,
        "product_family_code": row.product_family_code,
        "platform_version": row.platform_version,
        "status": row.status,
        "scopes_requested": list(row.scopes_requested or []),
        "scopes_granted": granted,
        "scopes_missing": missing,
        "scopes_narrowed": bool(missing),
        "platform_profile": row.platform_profile,
        "adaptations": list(row.adaptations or []),
        "verified_at": broker.database.json_time(row.verified_at),
        "launched_at": broker.database.json_time(row.launched_at),
        "scope_drift": row.scope_drift,
        "created_at": broker.database.json_time(row.created_at),
        "updated_at": broker.database.json_time(row.updated_at),
    }
