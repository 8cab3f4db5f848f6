"""Webhooks and the pull API: delivery attempts, leases, replays, event numbers, webhook secret rotation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:45:32.498661
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import broker.database

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_delivery_attempts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", broker.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_delivery_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery_attempts")),
        sa.UniqueConstraint("delivery_id", "number", name=op.f("uq_webhook_delivery_attempts_delivery_id_number")),
    )
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_secret_previous_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("webhook_secret_previous_expires_at", broker.database.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("event_sequence", sa.Integer(), server_default="0", nullable=False))

    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sequence", sa.Integer(), nullable=True))
    # Events written before this revision are numbered per tenant in id (creation) order, and each
    # tenant's counter continues after them.
    op.execute(
        "UPDATE outbox_events SET sequence = (SELECT COUNT(*) FROM outbox_events AS earlier "
        "WHERE earlier.tenant_id = outbox_events.tenant_id AND earlier.id <= outbox_events.id)"
    )
    op.execute(
        "UPDATE tenants SET event_sequence = "
        "(SELECT COUNT(*) FROM outbox_events WHERE outbox_events.tenant_id = tenants.id)"
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.alter_column("sequence", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_outbox_events_tenant_id_sequence"), ["tenant_id", "sequence"])

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trigger", sa.String(length=20), server_default="event", nullable=False))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("trigger")

    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_outbox_events_tenant_id_sequence"), type_="unique")
        batch_op.drop_column("sequence")

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("event_sequence")
        batch_op.drop_column("webhook_secret_previous_expires_at")
        batch_op.drop_column("webhook_secret_previous_encrypted")

    op.drop_table("webhook_delivery_attempts")
