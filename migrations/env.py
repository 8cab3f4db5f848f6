"""Alembic environment: migrations run on a synchronous connection to the configured database."""

from alembic import context
from sqlalchemy import create_engine, pool

from broker.schema import metadata

config = context.config


def _include(item: object, _name: str | None, _type: str, reflected: bool, _compare_to: object) -> bool:
    """Whether autogenerate compares a model's object: not one whose model builds it on another engine only
    (`ddl_if(dialect=...)`), which this database is right not to have."""
    condition = getattr(item, "_ddl_if", None)
    dialect = context.get_bind().dialect.name
    return reflected or condition is None or condition.dialect in (None, dialect)


def run_migrations() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=_include,
            # One transaction per migration: a migration's autocommit block (CREATE INDEX CONCURRENTLY) then
            # commits only the migrations before it, each whole.
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
