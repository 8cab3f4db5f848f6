"""Limits shared by every broker process (the database limit store): token buckets and places in flight.

New tables only, so processes of the previous release run on beside it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 08:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "limit_buckets",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("full_at", sa.Double(), nullable=False),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_limit_buckets")),
    )
    op.create_index(op.f("ix_limit_buckets_full_at"), "limit_buckets", ["full_at"], unique=False)
    op.create_table(
        "limit_slots",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=40), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", "slot", name=op.f("pk_limit_slots")),
    )
    op.create_index(op.f("ix_limit_slots_expires_at"), "limit_slots", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_limit_slots_expires_at"), table_name="limit_slots")
    op.drop_table("limit_slots")
    op.drop_index(op.f("ix_limit_buckets_full_at"), table_name="limit_buckets")
    op.drop_table("limit_buckets")
