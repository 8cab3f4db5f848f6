"""The Alembic migrations and the SQLAlchemy models describe the same schema, on every engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from broker.database import sync_url
from broker.migrate import alembic_config, check, upgrade
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
