"""Migrations are safe while processes of the previous release still run (`broker db upgrade` comes first,
then the processes are replaced): from 0009 on, a migration only adds — tables, indexes, columns that may be
empty or have a default — and never drops, renames or tightens what the running code reads and writes (a
unique index too could refuse the old code's writes)."""

from __future__ import annotations

import io
import re

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from broker.migrate import alembic_config

# Migrations before this one were written before the broker ran as a fleet.
FIRST_RULED = 9
# Migrations that change nothing on PostgreSQL: a SQLite table rebuilt in one transaction (processes that run
# see the old table or the new one, tests/test_migrations.py), an index only a chore read dropped on SQLite, the
# attempts' indexes reshaped on SQLite (twice), an index no statement read dropped on SQLite.
SQLITE_ONLY = frozenset({"0015", "0016", "0017", "0018", "0019"})
ALLOWED = (
    re.compile(r"^CREATE TABLE "),
    re.compile(r"^CREATE INDEX "),
    re.compile(r"^ALTER TABLE \S+ ADD COLUMN (?!.*NOT NULL)"),  # old code's inserts leave it empty
    re.compile(r"^ALTER TABLE \S+ ADD COLUMN .*DEFAULT"),  # or the database fills it in
    # Around an autocommit block (CREATE INDEX CONCURRENTLY cannot run in a transaction): no change to the schema.
    re.compile(r"^(COMMIT|BEGIN)$"),
)


def ruled_revisions() -> list[str]:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return sorted(script.revision for script in scripts.walk_revisions() if int(script.revision) >= FIRST_RULED)


def upgrade_sql(revision: str) -> list[str]:
    """The statements of one migration's upgrade, as PostgreSQL would run them."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    output = io.StringIO()
    context = MigrationContext.configure(dialect_name="postgresql", opts={"as_sql": True, "output_buffer": output})
    with Operations.context(context):
        scripts.get_revision(revision).module.upgrade()
    return [" ".join(part.split()) for part in output.getvalue().split(";") if part.strip()]


@pytest.mark.parametrize("revision", ruled_revisions())
def test_a_migration_only_adds(revision: str) -> None:
    statements = upgrade_sql(revision)
    assert statements or revision in SQLITE_ONLY
    for statement in statements:
        assert any(rule.match(statement) for rule in ALLOWED), f"{revision} would break running processes: {statement}"


def test_the_rule_catches_what_breaks_running_processes() -> None:
    for breaking in (
        "ALTER TABLE tenants DROP COLUMN name",
        "ALTER TABLE tenants RENAME COLUMN name TO title",
        "ALTER TABLE tenants ADD COLUMN plan VARCHAR(20) NOT NULL",
        "ALTER TABLE tenants ALTER COLUMN name SET NOT NULL",
        "DROP TABLE tenants",
        "CREATE UNIQUE INDEX uq_tenants_name ON tenants (name)",
    ):
        assert not any(rule.match(breaking) for rule in ALLOWED), breaking
