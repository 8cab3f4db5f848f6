"""Launch states remember the platform's `lti_storage_target` (the postMessage storage binding).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 11:17:36.803909
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("launch_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("storage_target", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("launch_states", schema=None) as batch_op:
        batch_op.drop_column("storage_target")
