"""Tenants: sign-up rules, keys encrypted at rest, API keys hashed, and the in-memory key ring."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, inspect, select

from broker.services import Services
from tenants.keys import KeyRing
from tenants.models import ApiKey, SigningKey, Tenant
from tenants.services import TenantError
from tests.conftest import unique_slug


@pytest.mark.parametrize("slug", ["ab", "x" * 41, "Upper", "with space", "under_score", ""])
async def test_bad_slugs_are_refused_with_the_field_named(services: Services, slug: str) -> None:
    with pytest.raises(TenantError) as caught:
        await services.tenants.create(slug, "Name")
    assert caught.value.field == "slug"


async def test_duplicate_slug_is_refused(services: Services) -> None:
    slug = unique_slug()
    await services.tenants.create(slug, "First")
    with pytest.raises(TenantError, match="taken"):
        await services.tenants.create(slug, "Second")


async def test_a_tenant_read_by_slug_is_the_one_the_orm_loads_detached(services: Services) -> None:
    slug = unique_slug()
    await services.tenants.create(slug, "Café <b>", webhook_url="https://tool.example.com/hooks")
    read = await services.tenants.get_by_slug(slug)
    async with services.database.session() as session:
        loaded = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    assert read is not None and loaded is not None
    columns = [attribute.key for attribute in inspect(Tenant).column_attrs]
    assert {name: getattr(read, name) for name in columns} == {name: getattr(loaded, name) for name in columns}
    assert inspect(read).detached and inspect(loaded).detached
    # As a detached object, a session takes it back as the row it is: a change updates the row.
    async with services.database.transaction() as session:
        session.add(read)
        read.name = "Renamed"
    renamed = await services.tenants.get_by_slug(slug)
    assert renamed is not None and (renamed.id, renamed.name) == (loaded.id, "Renamed")
    assert await services.tenants.get_by_slug(unique_slug()) is None


async def test_bad_tool_configuration_names_the_field(services: Services) -> None:
    with pytest.raises(TenantError) as caught:
        await services.tenants.create(unique_slug(), "Name", tool_configuration={"scopes": ["openid"]})
    assert caught.value.field == "tool_configuration.scopes"


async def test_private_key_and_webhook_secret_are_encrypted_and_api_key_is_hashed(services: Services) -> None:
    created = await services.tenants.create(unique_slug(), "Acme", webhook_url="https://hooks.acme.example/lti")
    assert created.webhook_secret and created.webhook_secret.startswith("whsec_")
    async with services.database.session() as session:
        key_row = await session.scalar(select(SigningKey).where(SigningKey.tenant_id == created.tenant.id))
        api_row = await session.scalar(select(ApiKey).where(ApiKey.tenant_id == created.tenant.id))
        tenant_row = await session.get(Tenant, created.tenant.id)
    assert key_row is not None and api_row is not None and tenant_row is not None
    assert key_row.kid == created.kid
    assert '"d"' not in key_row.private_key_encrypted and "d" not in key_row.public_jwk
    assert json.loads(services.secret_box.decrypt(key_row.private_key_encrypted))["kid"] == created.kid
    assert created.api_key not in (api_row.digest, api_row.prefix) and len(api_row.digest) == 64
    assert created.webhook_secret not in (tenant_row.webhook_secret_encrypted or "")
    assert services.tenants.webhook_secret(tenant_row) == created.webhook_secret


async def test_api_key_authenticates_its_own_tenant_only(services: Services) -> None:
    first = await services.tenants.create(unique_slug(), "First")
    second = await services.tenants.create(unique_slug(), "Second")
    assert (await services.tenants.authenticate(first.api_key)).id == first.tenant.id  # type: ignore[union-attr]
    assert (await services.tenants.authenticate(second.api_key)).id == second.tenant.id  # type: ignore[union-attr]
    assert await services.tenants.authenticate(first.api_key + "x") is None
    assert await services.tenants.authenticate("not-a-key") is None


@contextmanager
def statements_sent(services: Services) -> Iterator[list[str]]:
    """The SQL statements the services' engine sends meanwhile, in order."""
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(services.database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(services.database.engine.sync_engine, "before_cursor_execute", record)


async def test_key_ring_serves_the_jwks_without_querying_the_database_once_warm(services: Services) -> None:
    created = await services.tenants.create(unique_slug(), "Acme")
    ring = KeyRing(services.database, services.secret_box, ttl=60)
    with statements_sent(services) as statements:
        first = await ring.get(created.tenant.slug)
        queries_when_cold = len(statements)
        for _ in range(20):
            again = await ring.get(created.tenant.slug)
    assert first is not None and again is first
    assert queries_when_cold > 0 and len(statements) == queries_when_cold
    published = json.loads(first.jwks)["keys"]
    assert [key["kid"] for key in published] == [created.kid]
    assert published[0]["alg"] == "RS256" and published[0]["use"] == "sig" and "d" not in published[0]
    assert first.signing_key is not None and first.signing_key["kid"] == created.kid


async def test_key_ring_answers_none_for_unknown_tenants(services: Services) -> None:
    assert await KeyRing(services.database, services.secret_box).get("no-such-tenant") is None


async def test_key_ring_memory_stays_bounded_when_asked_for_many_unknown_slugs(services: Services) -> None:
    ring = KeyRing(services.database, services.secret_box, ttl=60, max_unknown=5)
    for number in range(23):
        assert await ring.get(f"nobody-{number}") is None
    assert len(ring._unknown) <= 5 and not ring._entries and not ring._loading


async def test_key_ring_memory_stays_bounded_when_many_tenants_are_served(services: Services) -> None:
    """Each served key set holds its JWKS and its decrypted signing key: a ring serving every tenant of a large
    deployment keeps the most recent ones only, and still serves the others (from the database again)."""
    created = [await services.tenants.create(unique_slug(), "Acme") for _ in range(7)]
    ring = KeyRing(services.database, services.secret_box, ttl=60, max_entries=3)
    for tenant in created:
        assert (await ring.get(tenant.tenant.slug)) is not None
    assert len(ring._entries) <= 3 and len(ring._private_keys) <= 3
    first = await ring.get(created[0].tenant.slug)
    assert first is not None and first.signing_key is not None and first.signing_key["kid"] == created[0].kid


async def test_concurrent_cold_lookups_of_one_tenant_share_one_load(services: Services) -> None:
    created = await services.tenants.create(unique_slug(), "Acme")
    ring = KeyRing(services.database, services.secret_box, ttl=60)
    with statements_sent(services) as statements:
        results = await asyncio.gather(*(ring.get(created.tenant.slug) for _ in range(10)))
    assert all(result is results[0] and result is not None for result in results)
    assert len([s for s in statements if "FROM tenants" in s]) == 1
    assert not ring._loading
