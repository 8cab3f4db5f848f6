"""Launches and service tokens: single-use launch states, the shared platform token cache, scope drift.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:56:10.402495
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import broker.database

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "launch_states",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("registration_id", sa.String(length=40), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("target_link_uri", sa.String(length=2048), nullable=False),
        sa.Column("lti_deployment_id", sa.String(length=255), nullable=True),
        sa.Column("expires_at", broker.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", broker.database.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name=op.f("fk_launch_states_registration_id_registrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_launch_states_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_launch_states")),
    )
    with op.batch_alter_table("launch_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_launch_states_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "platform_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registration_id", sa.String(length=40), nullable=False),
        sa.Column("scope_key", sa.String(length=64), nullable=False),
        sa.Column("access_token_encrypted", sa.Text(), nullable=False),
        sa.Column("token_type", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("expires_at", broker.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("usable_until", broker.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", broker.database.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name=op.f("fk_platform_tokens_registration_id_registrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_tokens")),
        sa.UniqueConstraint("registration_id", "scope_key", name=op.f("uq_platform_tokens_registration_id_scope_key")),
    )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope_drift", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_column("scope_drift")

    op.drop_table("platform_tokens")
    with op.batch_alter_table("launch_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_launch_states_expires_at"))

    op.drop_table("launch_states")
