"""Tenants may have a host name of their own (tenants.hostname); every name a tenant has had is kept in
tenant_hostnames, so it keeps serving that tenant and is never given to another.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import broker.database

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hostname", sa.String(length=253), nullable=True))
    op.create_table(
        "tenant_hostnames",
        sa.Column("hostname", sa.String(length=253), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", broker.database.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_hostnames_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("hostname", name=op.f("pk_tenant_hostnames")),
    )
    op.create_index(op.f("ix_tenant_hostnames_tenant_id"), "tenant_hostnames", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tenant_hostnames_tenant_id"), table_name="tenant_hostnames")
    op.drop_table("tenant_hostnames")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("hostname")
