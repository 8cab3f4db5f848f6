"""Where logins came from: launch_states.login_host, and the hosts each registration's completed launches were
started from (registrations.login_hosts); logins from other hosts get a page before the redirect.

Both columns are nullable: processes of the previous release neither write nor read them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 09:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("launch_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login_host", sa.String(length=253), nullable=True))
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login_hosts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_column("login_hosts")
    with op.batch_alter_table("launch_states", schema=None) as batch_op:
        batch_op.drop_column("login_host")
