"""Keys bound to a platform: one key set per (tenant, platform issuer), published at its own JWKS URL, apart from
the tenant's own key set; and the pool of spare keys that keeps RSA key generation off the request path."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import func, select

from broker.services import Services
from tenants.key_pool import KeyPool
from tenants.models import PlatformSigningKey, SpareSigningKey, Tenant
from tenants.platform_bound_keys import PlatformBoundKeys
from tenants.services import CreatedTenant
from tests.conftest import RunningBroker, unique_slug

pytestmark = pytest.mark.asyncio(loop_scope="session")

ISSUER = "https://lms.example.edu"


def bound_keys(services: Services, pool: KeyPool | None = None) -> PlatformBoundKeys:
    pool = pool or KeyPool(services.database, services.secret_box)
    return PlatformBoundKeys(services.database, services.settings, services.key_ring, pool)


async def kids_at(http: httpx.AsyncClient, url: str) -> list[str]:
    answer = await http.get(url)
    assert answer.status_code == 200, answer.text
    return [key["kid"] for key in answer.json()["keys"]]


async def spare_count(services: Services) -> int:
    async with services.database.session() as session:
        return await session.scalar(select(func.count()).select_from(SpareSigningKey)) or 0


async def test_each_platform_gets_a_key_of_its_own_published_apart_from_the_tenants(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    keys = bound_keys(services)
    slug, tenant_id = tenant.tenant.slug, tenant.tenant.id
    first = await keys.ensure(tenant_id, slug, ISSUER)
    again = await keys.ensure(tenant_id, slug, ISSUER)
    other_platform = await keys.ensure(tenant_id, slug, "https://other.example.edu")
    other = await services.tenants.create(unique_slug("other"), "Other Tool")
    other_tenant = await keys.ensure(other.tenant.id, other.tenant.slug, ISSUER)

    platform_kids = await kids_at(http, broker.url(f"/t/{slug}/keys/{first}/jwks.json"))
    tenant_kids = await kids_at(http, broker.url(f"/t/{slug}/.well-known/jwks.json"))
    other_kids = await kids_at(http, broker.url(f"/t/{slug}/keys/{other_platform}/jwks.json"))
    assert first == again, "a platform registering again keeps its key set"
    assert len({first, other_platform, other_tenant}) == 3
    assert len(platform_kids) == 1 and not set(platform_kids) & set(tenant_kids + other_kids)
    # Another tenant's key set is not found under this tenant's URL.
    assert (await http.get(broker.url(f"/t/{slug}/keys/{other_tenant}/jwks.json"))).status_code == 404


async def test_a_key_set_name_reveals_nothing_and_unknown_ones_are_404(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    key_set = bound_keys(services).key_set(tenant.tenant.id, ISSUER)
    assert "lms" not in key_set and len(key_set) == 24
    answer = await http.get(broker.url(f"/t/{tenant.tenant.slug}/keys/{key_set}/jwks.json"))
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_two_registrations_with_a_new_platform_at_once_get_one_key(
    services: Services, tenant: CreatedTenant
) -> None:
    keys = bound_keys(services)
    issuer = "https://concurrent.example.edu"
    sets = await asyncio.gather(*(keys.ensure(tenant.tenant.id, tenant.tenant.slug, issuer) for _ in range(3)))
    async with services.database.session() as session:
        rows = (
            await session.scalars(select(PlatformSigningKey).where(PlatformSigningKey.key_set == sets[0]))
        ).all()
    assert len(set(sets)) == 1 and len(rows) == 1


async def test_registrations_with_a_new_platform_at_once_use_one_spare_key(
    services: Services, tenant: CreatedTenant
) -> None:
    """The spare key is taken in the transaction that binds it, so the registrations that find the key bound by
    another leave the pool as it was: spare keys are made ahead at about 100 ms of CPU each."""
    pool = KeyPool(services.database, services.secret_box, size=await spare_count(services) + 3)
    await pool.refill()
    before = await spare_count(services)
    keys = bound_keys(services, pool)
    issuer = "https://one-spare.example.edu"
    sets = await asyncio.gather(*(keys.ensure(tenant.tenant.id, tenant.tenant.slug, issuer) for _ in range(3)))
    assert len(set(sets)) == 1
    assert await spare_count(services) == before - 1
    assert pool.generated_on_demand == 0


async def test_a_new_platforms_key_waits_for_no_registration_being_recorded(
    services: Services, tenant: CreatedTenant
) -> None:
    """A registration's attempt being recorded refers to the tenant, and PostgreSQL's foreign-key check takes the
    tenant's row FOR KEY SHARE until that transaction ends. A new platform's key, made meanwhile, locks the row too:
    locked FOR UPDATE it waited for the attempt, and a check following the row's newer version could wait for it
    back (PostgreSQL ended one as a deadlock under concurrent registrations from new LMSs)."""
    refers = select(Tenant.id).where(Tenant.id == tenant.tenant.id).with_for_update(read=True, key_share=True)
    async with services.database.engine.connect() as recording, recording.begin():
        await recording.execute(refers)
        ensure = bound_keys(services).ensure(tenant.tenant.id, tenant.tenant.slug, "https://while-recording.example.edu")
        key_set = await asyncio.wait_for(ensure, timeout=10)
    async with services.database.session() as session:
        assert await session.scalar(select(func.count()).where(PlatformSigningKey.key_set == key_set)) == 1


async def test_the_pool_is_refilled_ahead_and_each_spare_key_is_handed_out_once(services: Services) -> None:
    pool = KeyPool(services.database, services.secret_box, size=3)
    added = await pool.refill()
    assert added == 3 - (await spare_count(services) - added)
    assert await spare_count(services) >= 3
    assert await pool.refill() == 0, "a full pool is left alone"
    taken = await asyncio.gather(*(pool.take() for _ in range(3)))
    assert len({pair.kid for pair in taken}) == 3
    assert pool.generated_on_demand == 0
    assert all("BEGIN" not in pair.private_key_encrypted and "d" not in pair.public_jwk for pair in taken)


async def test_an_empty_pool_generates_a_key_on_the_spot_and_says_so(services: Services) -> None:
    pool = KeyPool(services.database, services.secret_box, size=0)
    while await spare_count(services):
        await pool.take()
    before = pool.generated_on_demand
    pair = await pool.take()
    assert pool.generated_on_demand == before + 1
    assert json.loads(services.secret_box.decrypt(pair.private_key_encrypted))["kid"] == pair.kid
