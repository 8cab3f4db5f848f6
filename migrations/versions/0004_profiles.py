"""Platform profiles: which profile shaped each registration and attempt, and what it adapted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_profile", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("adaptations", sa.JSON(), nullable=True))
    with op.batch_alter_table("registration_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_profile", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registration_attempts", schema=None) as batch_op:
        batch_op.drop_column("platform_profile")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_column("adaptations")
        batch_op.drop_column("platform_profile")
