"""Signing keys bound to platforms, a pool of spare keys, and single-use Verify forms.

`platform_signing_keys` is a table of its own, not a column of `signing_keys`, so that processes still running
the previous release never see a platform-bound key as one of the tenant's own. `registrations.key_set` is
null for every existing registration: those keep signing with the tenant's key until registered again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import broker.database

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key_pair_columns() -> list[sa.Column]:
    return [
        sa.Column("kid", sa.String(length=100), nullable=False),
        sa.Column("private_key_encrypted", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", broker.database.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "platform_signing_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("key_set", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("activated_at", broker.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retired_at", broker.database.UTCDateTime(timezone=True), nullable=True),
        *_key_pair_columns(),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_platform_signing_keys_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_signing_keys")),
        sa.UniqueConstraint("kid", name=op.f("uq_platform_signing_keys_kid")),
    )
    with op.batch_alter_table("platform_signing_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_platform_signing_keys_tenant_id_key_set_status"),
            ["tenant_id", "key_set", "status"],
            unique=False,
        )
    op.create_table(
        "spare_signing_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_key_pair_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spare_signing_keys")),
        sa.UniqueConstraint("kid", name=op.f("uq_spare_signing_keys_kid")),
    )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_set", sa.String(length=64), nullable=True))
    with op.batch_alter_table("registration_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verify_uses", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("registration_attempts", schema=None) as batch_op:
        batch_op.drop_column("verify_uses")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_column("key_set")
    op.drop_table("spare_signing_keys")
    with op.batch_alter_table("platform_signing_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_platform_signing_keys_tenant_id_key_set_status"))
    op.drop_table("platform_signing_keys")
