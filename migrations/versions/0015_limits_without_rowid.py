"""The limits' tables on SQLite kept in their primary key's b-tree (WITHOUT ROWID), the places' expiry index
left out. Nothing changes on PostgreSQL, whose migrations only add (tests/test_migration_safety.py).

A rowid table keeps each row in the table's b-tree and its TEXT primary key in an index beside it, so every
take of a bucket and every place claimed or given back wrote a page of each, and each page a transaction
writes is a WAL frame of its commit. Rebuilt here: created anew, the rows copied, the old table dropped and the
new one renamed, the copy, drop and rename in one transaction (the copy begins it), so that processes still
running see one table or the other; their statements, prepared again by SQLite when the schema changes, read
the same columns. PostgreSQL has no rowid.

`limit_slots (expires_at)` served only the prune (`expires_at < now`); every other statement on the places
finds them by their primary key (key, slot). The table holds the places of calls in flight, each deleted when
its call ends (only a killed process leaves one to expire), so the prune reads a handful of rows without it;
with it, each place claimed and given back wrote an index page too (a registration flow claims and gives back
twice). PostgreSQL keeps it: dropping what the running release was deployed with is not done there.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 01:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, its columns' definitions, its primary key, the index it keeps on SQLite and its column)
TABLES = (
    (
        "limit_buckets",
        '"key" VARCHAR(300) NOT NULL, full_at DOUBLE NOT NULL, refused BOOLEAN NOT NULL',
        '"key"',
        ("ix_limit_buckets_full_at", "full_at"),
    ),
    (
        "limit_slots",
        '"key" VARCHAR(300) NOT NULL, slot INTEGER NOT NULL, holder VARCHAR(40) NOT NULL, '
        "expires_at DOUBLE NOT NULL",
        '"key", slot',
        None,
    ),
)
EXPIRY = "ix_limit_slots_expires_at"


def _rebuild(without_rowid: bool) -> None:
    """Each table rebuilt with or without a rowid, with the indexes of its model at the revision reached."""
    for table, columns, key, index in TABLES:
        options = " WITHOUT ROWID" if without_rowid else ""
        op.execute(f"CREATE TABLE {table}_rebuilt ({columns}, CONSTRAINT pk_{table} PRIMARY KEY ({key})){options}")
        op.execute(f"INSERT INTO {table}_rebuilt SELECT * FROM {table}")  # noqa: S608 - this file's names
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {table}_rebuilt RENAME TO {table}")
        if index is not None:
            op.execute(f"CREATE INDEX {index[0]} ON {table} ({index[1]})")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(without_rowid=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(without_rowid=False)
        op.create_index(EXPIRY, "limit_slots", ["expires_at"], unique=False)
