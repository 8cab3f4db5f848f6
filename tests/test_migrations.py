"""The Alembic migrations and the SQLAlchemy models describe the same schema, on every engine."""

from __future__ import annotations

from broker.migrate import check, upgrade


def test_models_and_migrations_agree(database_url: str) -> None:
    upgrade(database_url)  # idempotent at head
    check(database_url)  # raises when autogenerate would find anything to change
