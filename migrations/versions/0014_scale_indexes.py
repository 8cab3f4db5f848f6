"""Indexes for tenants holding many registrations, and for the background loop's attempt chores.

Plans measured with `make bench ONLY=scale` (10,000 tenants, 150,000 registrations, one tenant holding 100,000):

- `registrations (tenant_id, id)`, `(tenant_id, status, id)`, `(tenant_id, product_family_code, id)`: a page of the
  API's list (`tenant_id = ? [AND filter] AND id > cursor ORDER BY id LIMIT n`) reads its own index entries; a
  filter matching few registrations made PostgreSQL walk the primary key past thousands of rows first.
- `registrations (tenant_id, updated_at)`: `updated_since` (a tool polling for changes) reads only what changed,
  where it read every registration (850 ms for the big tenant's last day).
- `registration_attempts (tenant_id, id)`, `(tenant_id, status, id)`: the same for the attempts list (a status
  whose attempts were all recent read 150,000 rows, 730 ms).
- `registration_attempts (status, updated_at)`: the sweep of attempts cut off mid-flight reads those it marks.
- `registration_attempts (updated_at)` over abandoned attempts only: their pruning reads only them.

On PostgreSQL each is built CONCURRENTLY, outside a transaction, so the processes still serving keep writing
meanwhile (a build that fails leaves an invalid index: drop it and run the upgrade again). Only adds, so the
running release is unaffected.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ABANDONED = sa.text("response_status IS NULL AND registration_id IS NULL")
# (name, table, columns, only the rows where)
INDEXES: tuple[tuple[str, str, list[str], sa.TextClause | None], ...] = (
    ("ix_registrations_tenant_id_id", "registrations", ["tenant_id", "id"], None),
    ("ix_registrations_tenant_id_status_id", "registrations", ["tenant_id", "status", "id"], None),
    (
        "ix_registrations_tenant_id_product_family_code_id",
        "registrations",
        ["tenant_id", "product_family_code", "id"],
        None,
    ),
    ("ix_registrations_tenant_id_updated_at", "registrations", ["tenant_id", "updated_at"], None),
    ("ix_registration_attempts_tenant_id_id", "registration_attempts", ["tenant_id", "id"], None),
    ("ix_registration_attempts_tenant_id_status_id", "registration_attempts", ["tenant_id", "status", "id"], None),
    ("ix_registration_attempts_status_updated_at", "registration_attempts", ["status", "updated_at"], None),
    ("ix_registration_attempts_abandoned_updated_at", "registration_attempts", ["updated_at"], ABANDONED),
)


def upgrade() -> None:
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction (SQLite has no such statement, nor the need).
    with op.get_context().autocommit_block():
        for name, table, columns, where in INDEXES:
            op.create_index(
                name, table, columns, postgresql_concurrently=True, postgresql_where=where, sqlite_where=where
            )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name, table, _, _ in INDEXES:
            op.drop_index(name, table_name=table, postgresql_concurrently=True)
