"""The Alembic migrations and the SQLAlchemy models describe the same schema, on every engine."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from broker.database import Database, sync_url, utcnow
from broker.migrate import alembic_config, check, upgrade
from broker.registration import attempts
from broker.registration.models import FAILURES, RegistrationAttempt
from broker.registration.queries import RegistrationFilter, list_registrations
from tests.conftest import ENGINES, POSTGRES_URL, _create_postgres_database, _drop_postgres_database


def test_models_and_migrations_agree(database_url: str) -> None:
    upgrade(database_url)  # idempotent at head
    check(database_url)  # raises when autogenerate would find anything to change


@pytest.fixture(params=ENGINES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    url, name = _create_postgres_database(POSTGRES_URL)
    try:
        yield url
    finally:
        _drop_postgres_database(POSTGRES_URL, name)


def _insert_tenant(connection: sa.Connection, tenant_id: str, webhook_url: str | None = None) -> None:
    connection.execute(
        sa.text(
            "INSERT INTO tenants (id, slug, name, webhook_url, event_sequence, tool_configuration, "
            "review_registrations, activation_policy, accept_new_deployments, created_at, updated_at) "
            "VALUES (:id, :id, :id, :hook, 0, '{}', true, 'active', true, :now, :now)"
        ),
        {"id": tenant_id, "hook": webhook_url, "now": datetime(2025, 1, 1, tzinfo=UTC)},
    )


def _insert_registration(connection: sa.Connection, tenant_id: str, status: str, year: int) -> str:
    registration_id = f"reg_{tenant_id}"
    connection.execute(
        sa.text(
            "INSERT INTO registrations (id, tenant_id, issuer, client_id, status, jwks_uri, registration_endpoint, "
            "scopes_requested, scopes_granted, platform_configuration, registration_request, registration_response, "
            "created_at, updated_at) VALUES (:id, :tenant, 'https://lms.example/moodle', 'shared-client', :status, "
            "'https://lms.example/jwks', 'https://lms.example/register', '[]', '[]', '{}', '{}', '{}', :at, :at)"
        ),
        {"id": registration_id, "tenant": tenant_id, "status": status, "at": datetime(year, 1, 1, tzinfo=UTC)},
    )
    return registration_id


def test_upgrade_gives_a_client_held_by_several_tenants_to_the_oldest_active_one(empty_database_url: str) -> None:
    """Databases written before the one-tenant-per-client rule: the oldest active registration stays, the others
    are disabled, and every tenant involved gets a `registration.conflict` event; then the rule holds."""
    command.upgrade(alembic_config(empty_database_url), "0007")
    engine = sa.create_engine(sync_url(empty_database_url))
    with engine.begin() as connection:
        _insert_tenant(connection, "ten_a")
        _insert_tenant(connection, "ten_b", webhook_url="https://b.example/hook")
        _insert_tenant(connection, "ten_c")
        _insert_registration(connection, "ten_a", "pending", 2019)  # older, but not active
        _insert_registration(connection, "ten_b", "active", 2020)
        _insert_registration(connection, "ten_c", "active", 2021)
    upgrade(empty_database_url)
    with engine.begin() as connection:
        statuses = dict(connection.execute(sa.text("SELECT tenant_id, status FROM registrations")).all())
        events = connection.execute(
            sa.text("SELECT tenant_id, type, sequence, payload FROM outbox_events ORDER BY tenant_id")
        ).all()
        deliveries = connection.execute(sa.text("SELECT tenant_id, status FROM webhook_deliveries")).all()
    assert statuses == {"ten_a": "disabled", "ten_b": "active", "ten_c": "disabled"}
    assert [(e.tenant_id, e.type, e.sequence) for e in events] == [
        ("ten_a", "registration.conflict", 1), ("ten_b", "registration.conflict", 1),
        ("ten_c", "registration.conflict", 1),
    ]
    payloads = [e.payload if isinstance(e.payload, dict) else json.loads(e.payload) for e in events]
    assert [p["data"]["status"] for p in payloads] == ["disabled", "active", "disabled"]
    assert all(p["data"]["client_id"] == "shared-client" for p in payloads)
    assert [tuple(d) for d in deliveries] == [("ten_b", "pending")]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sa.text("UPDATE registrations SET status = 'active' WHERE tenant_id = 'ten_c'"))
    engine.dispose()


async def test_the_scale_indexes_apply_to_a_database_in_use_and_its_queries_find_the_same_rows(
    empty_database_url: str,
) -> None:
    """Upgraded over registrations and attempts (on PostgreSQL the indexes are built concurrently, outside a
    transaction), a tenant's pages still hold exactly its registrations in id order under each filter, the sweep
    marks exactly the attempts stalled mid-flight, and the pruning deletes exactly the abandoned ones."""
    command.upgrade(alembic_config(empty_database_url), "0013")
    engine = sa.create_engine(sync_url(empty_database_url))
    long_ago, recently = utcnow() - timedelta(hours=2), utcnow() - timedelta(minutes=1)
    with engine.begin() as connection:
        _insert_tenant(connection, "ten_a")
        _insert_tenant(connection, "ten_b")
        for n in range(12):  # the two tenants' ids interleave
            for tenant_id in ("ten_a", "ten_b"):
                _insert_listed_registration(connection, tenant_id, n)
        for status, at in [("fetching", long_ago), ("submitting", long_ago), ("fetching", recently),
                           ("submitting", recently), ("reviewing", long_ago), ("failed", long_ago)]:
            connection.execute(
                sa.text(
                    "INSERT INTO registration_attempts (id, tenant_id, status, openid_configuration_url, verify_uses, "
                    "created_at, updated_at) VALUES (:id, 'ten_b', :status, 'https://lms.example/config', 0, :at, :at)"
                ),
                {"id": f"att_{status}_{at:%H%M%S}", "status": status, "at": at},
            )
    command.upgrade(alembic_config(empty_database_url), "0014")
    indexes = {
        table: {index["name"] for index in sa.inspect(engine).get_indexes(table)}
        for table in ("registrations", "registration_attempts")
    }
    for name, table, _, _ in ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision("0014").module.INDEXES:
        assert name in indexes[table]
    upgrade(empty_database_url)  # and on to the head, which SQLite reaches with its own attempt indexes (0017, 0019)
    engine.dispose()

    database = Database(empty_database_url)
    try:
        for filters, expected in [
            (None, [f"reg_ten_a_{n:02}" for n in range(12)]),
            (RegistrationFilter(status="pending"), [f"reg_ten_a_{n:02}" for n in range(12) if n % 3 == 1]),
            (RegistrationFilter(product_family_code="canvas"), [f"reg_ten_a_{n:02}" for n in range(12) if n % 2]),
            (RegistrationFilter(updated_since=datetime(2025, 4, 15, tzinfo=UTC)),
             [f"reg_ten_a_{n:02}" for n in range(8, 12)]),
        ]:
            assert await _all_pages(database, "ten_a", filters) == expected
        assert await attempts.interrupt_stalled(database) == 2
        async with database.session() as session:
            marked = await session.scalars(
                sa.select(RegistrationAttempt.id).where(RegistrationAttempt.status == "interrupted")
            )
            assert sorted(marked) == sorted(f"att_{status}_{long_ago:%H%M%S}" for status in ("fetching", "submitting"))
        fetching = await attempts.list_attempts(database, tenant_id="ten_b", status="fetching", limit=10)
        assert [row.id for row in fetching] == [f"att_fetching_{recently:%H%M%S}"]
        # The operator's recent failures: the two just marked, then the one that failed long ago (on SQLite they are
        # read from the failures' own index, 0019).
        recent = await attempts.recent_attempts(database, statuses=FAILURES, limit=10)
        assert [attempt.status for attempt, _ in recent] == ["interrupted", "interrupted", "failed"]
        assert recent[2][0].id == f"att_failed_{long_ago:%H%M%S}"
        # Abandoned long ago: the one left at its review and the failed one; the interrupted ones just changed.
        assert await attempts.prune_abandoned(database, utcnow() - timedelta(hours=1)) == 2
    finally:
        await database.dispose()


def _insert_listed_registration(connection: sa.Connection, tenant_id: str, n: int) -> None:
    """The nth registration of a tenant: every third pending, every other one canvas, updated in 2025, two a month."""
    at = datetime(2025, 1 + n // 2, 1 + n % 2, tzinfo=UTC)
    connection.execute(
        sa.text(
            "INSERT INTO registrations (id, tenant_id, issuer, client_id, status, product_family_code, jwks_uri, "
            "registration_endpoint, scopes_requested, scopes_granted, platform_configuration, registration_request, "
            "registration_response, created_at, updated_at) VALUES (:id, :tenant, 'https://lms.example', :client, "
            ":status, :family, 'https://lms.example/jwks', 'https://lms.example/register', '[]', '[]', '{}', '{}', "
            "'{}', :at, :at)"
        ),
        {
            "id": f"reg_{tenant_id}_{n:02}", "tenant": tenant_id, "client": f"{tenant_id}-{n}",
            "status": "pending" if n % 3 == 1 else "active", "family": "canvas" if n % 2 else "moodle", "at": at,
        },
    )


async def _all_pages(database: Database, tenant_id: str, filters: RegistrationFilter | None) -> list[str]:
    """Every id of the tenant's list, read three at a time after each page's last id, as the API's cursor does."""
    found: list[str] = []
    while True:
        page = await list_registrations(
            database, tenant_id=tenant_id, after_id=found[-1] if found else None, limit=3, filters=filters
        )
        found += [row.id for row in page]
        if len(page) < 3:
            return found


def test_the_limits_tables_rebuilt_without_rowid_keep_their_rows_and_serve_a_process_already_running(
    tmp_path: Path,
) -> None:
    """On SQLite (PostgreSQL has no rowid): the buckets and places of before the upgrade are kept, and a
    connection of a process running the release before goes on taking tokens with the statement it prepared."""
    url = f"sqlite:///{tmp_path / 'running.db'}"
    command.upgrade(alembic_config(url), "0014")
    running = sqlite3.connect(tmp_path / "running.db", isolation_level=None)
    take = (
        "INSERT INTO limit_buckets (key, full_at, refused) VALUES (?, ?, false) ON CONFLICT (key) DO UPDATE SET "
        "full_at = limit_buckets.full_at + 1 RETURNING full_at"
    )
    assert running.execute(take, ("public:a", 10.0)).fetchall() == [(10.0,)]
    running.execute("INSERT INTO limit_slots VALUES ('fetching:a', 0, 'holder', 99.0)")
    upgrade(url)
    assert running.execute(take, ("public:a", 10.0)).fetchall() == [(11.0,)]
    assert running.execute("SELECT * FROM limit_slots").fetchall() == [("fetching:a", 0, "holder", 99.0)]
    tables = dict(running.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name LIKE 'limit_%'").fetchall())
    running.close()
    assert tables["limit_buckets"].endswith("WITHOUT ROWID")
    assert tables["limit_slots"].endswith("WITHOUT ROWID")
    assert set(tables) == {"limit_buckets", "limit_slots"}  # the prune reads the short tables whole
