"""`limit_buckets (full_at)` left out on SQLite, as 0015 left out `limit_slots (expires_at)`.

Only the prune (`full_at < now`, every 10 minutes) read it; a take finds its bucket by its key. Each bucket
taken moved its entry, one more page written at each commit that took a token (a registration flow takes at
two). Without it the prune scans the table: about 1 ms for 50,000 buckets with none to forget in sqlite3 alone,
and less than through the index when half of them go (no index entries to delete). PostgreSQL keeps it (its
migrations only add).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 01:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_limit_buckets_full_at"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index(INDEX, table_name="limit_buckets")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(INDEX, "limit_buckets", ["full_at"], unique=False)
