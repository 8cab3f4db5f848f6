"""`registration_attempts` on SQLite: one status entry moved at each step of a registration, where two were.

Every step of a flow changes the attempt's status (fetching, reviewing, submitting, succeeded), and each index
holding it is one more page of the step's commit:

- `(tenant_id, status, id)`, the API's status filter, becomes `(status, tenant_id, id)`: the filter
  (`tenant_id = ? AND status = ? AND id > ?`) reads it as before, and so does the sweep of attempts cut off in
  flight (`status = ? AND updated_at < ?`), over the attempts of its status, fetching or submitting: those in
  flight, a few.
- `(status, updated_at)` is kept for the failures only (failed, conflict, interrupted), which the operator's
  recent failures read newest first (their query repeats the condition): a registration that succeeds never
  enters it.

PostgreSQL keeps its indexes (its migrations only add). A process of the release before, still running on
SQLite, finds its rows as before; only its recent failures, on the operator's page, read every failure of a
status until it is replaced.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 06:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "registration_attempts"
FAILED = sa.text("status IN ('failed', 'conflict', 'interrupted')")
# (name, columns, only the rows where)
Indexes = tuple[tuple[str, list[str], sa.TextClause | None], ...]
DROPPED: Indexes = (
    ("ix_registration_attempts_tenant_id_status_id", ["tenant_id", "status", "id"], None),
    ("ix_registration_attempts_status_updated_at", ["status", "updated_at"], None),
)
CREATED: Indexes = (
    ("ix_registration_attempts_status_tenant_id_id", ["status", "tenant_id", "id"], None),
    ("ix_registration_attempts_failed_updated_at", ["status", "updated_at"], FAILED),
)


def _change(drop: Indexes, create: Indexes) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, _, _ in drop:
        op.drop_index(name, table_name=TABLE)
    for name, columns, where in create:
        op.create_index(name, TABLE, columns, sqlite_where=where)


def upgrade() -> None:
    _change(DROPPED, CREATED)


def downgrade() -> None:
    _change(CREATED, DROPPED)
