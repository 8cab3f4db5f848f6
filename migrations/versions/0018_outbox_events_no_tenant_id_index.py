"""`outbox_events (tenant_id, id)` left out on SQLite, as 0016 left out `limit_buckets (full_at)`.

No statement reads it: the event feed pages by `(tenant_id, sequence)` (the unique constraint's index), an
event is found by its id (the primary key), and a tenant's deletion cascades along `(tenant_id, sequence)`
too. Each event recorded wrote a page of it at its commit (a registration flow records two). PostgreSQL
keeps it (its migrations only add).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 04:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_outbox_events_tenant_id_id"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index(INDEX, table_name="outbox_events")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(INDEX, "outbox_events", ["tenant_id", "id"], unique=False)
