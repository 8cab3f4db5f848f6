"""`registration_attempts` on SQLite: no index no statement reads, and none whose entry every step moves.

An attempt is written four times in a registration flow (opened, reviewing, submitting, finished), and each
index whose columns or partial condition a write changes is one more page of that write's commit:

- `(tenant_id, created_at)`: no statement reads it (the API pages by `(tenant_id, id)` or
  `(tenant_id, status, id)`); dropped.
- `(registration_id)`: now over the attempts that made or updated a registration only, so opening an attempt
  writes no entry; a registration's history (`registration_id = ?`) and the foreign key's `ON DELETE SET NULL`
  imply the condition and read it as before.
- Abandoned attempts (no answer, no registration) by `updated_at`, which every step changes: now by
  `created_at`, which none does, so the entry is written when an attempt opens and deleted when the platform
  answers; the pruning (`created_at < t AND updated_at < t`: an attempt changes after it begins) reads it.

PostgreSQL keeps its indexes (its migrations only add), and its pruning still reads the `updated_at` one. A
process of the release before, still running on SQLite, finds its rows as before; only its pruning, every ten
minutes, scans the table until it is replaced.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "registration_attempts"
ABANDONED = sa.text("response_status IS NULL AND registration_id IS NULL")
# (name, columns, only the rows where)
Indexes = tuple[tuple[str, list[str], sa.TextClause | None], ...]
DROPPED: Indexes = (
    ("ix_registration_attempts_tenant_id_created_at", ["tenant_id", "created_at"], None),
    ("ix_registration_attempts_registration_id", ["registration_id"], None),
    ("ix_registration_attempts_abandoned_updated_at", ["updated_at"], ABANDONED),
)
CREATED: Indexes = (
    ("ix_registration_attempts_registered", ["registration_id"], sa.text("registration_id IS NOT NULL")),
    ("ix_registration_attempts_abandoned_created_at", ["created_at"], ABANDONED),
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
