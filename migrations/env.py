"""Alembic environment: migrations run on a synchronous connection to the configured database."""

from alembic import context
from sqlalchemy import create_engine, pool

from broker.schema import metadata

config = context.config


def run_migrations() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            # One transaction per migration: a migration's autocommit block (CREATE INDEX CONCURRENTLY) then
            # commits only the migrations before it, each whole.
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
