"""What launches read about tenants and registrations is cached in each process, with bounds an operator can
rely on: a suspended tool or a deleted registration stops launching within the cache's lifetime, and the
cache holds a bounded number of answers however many tenants and registrations there are."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from broker.launch import errors
from broker.launch.directory import LaunchDirectory
from broker.launch.platform_keys import PlatformKeys
from broker.launch.service import LaunchService
from broker.registration.models import Deployment, Registration
from broker.services import Services
from tenants.hosts import path_site
from tenants.keys import KEY_RING_TTL
from tenants.services import CreatedTenant
from tests.clock import Clock
from tests.conftest import unique_slug

ISSUER = "https://lms.example.edu"


async def add_registration(services: Services, tenant: CreatedTenant) -> str:
    async with services.database.transaction() as session:
        registration = Registration(
            tenant_id=tenant.tenant.id,
            issuer=ISSUER,
            client_id=f"{tenant.tenant.slug}-client",
            status="active",
            authorization_endpoint=f"{ISSUER}/auth",
            token_endpoint=f"{ISSUER}/token",
            jwks_uri=f"{ISSUER}/jwks",
            registration_endpoint=f"{ISSUER}/register",
            deployments=[Deployment(deployment_id="dep-1", source="registration")],
        )
        session.add(registration)
        await session.flush()
        return registration.id


def launches(services: Services, directory: LaunchDirectory) -> LaunchService:
    return LaunchService(
        services.database, services.settings, services.key_ring, PlatformKeys(services.client), directory
    )


async def login(service: LaunchService, services: Services, tenant: CreatedTenant) -> None:
    site = path_site(services.settings, tenant.tenant.slug)
    params = {
        "iss": ISSUER,
        "login_hint": "user-1",
        "target_link_uri": site.launch_url,
        "client_id": f"{tenant.tenant.slug}-client",
    }
    redirect = await service.login(site, params)
    assert redirect.location.startswith(f"{ISSUER}/auth?")


async def test_a_suspended_tool_stops_launching_once_the_cached_tenant_expires(
    services: Services, tenant: CreatedTenant
) -> None:
    await add_registration(services, tenant)
    clock = Clock()
    service = launches(services, LaunchDirectory(services.database, services.secret_box, clock=clock))
    await login(service, services, tenant)

    await services.tenants.set_suspended(tenant.tenant.id, True)
    clock.now += KEY_RING_TTL

    with pytest.raises(errors.ToolSuspended):
        await login(service, services, tenant)


async def test_a_deleted_registration_stops_launching_once_the_cached_one_expires(
    services: Services, tenant: CreatedTenant
) -> None:
    registration_id = await add_registration(services, tenant)
    clock = Clock()
    directory = LaunchDirectory(services.database, services.secret_box, clock=clock)
    service = launches(services, directory)
    await login(service, services, tenant)
    assert await directory.registration(registration_id) is not None

    async with services.database.transaction() as session:
        await session.execute(delete(Registration).where(Registration.id == registration_id))
    clock.now += KEY_RING_TTL

    # Neither a new login nor the launch of a login made before finds it.
    with pytest.raises(errors.UnknownPlatform):
        await login(service, services, tenant)
    assert await directory.registration(registration_id) is None


async def test_the_cache_holds_a_bounded_number_of_answers(services: Services) -> None:
    directory = LaunchDirectory(services.database, services.secret_box, max_entries=3)
    slugs = []
    for _ in range(5):
        created = await services.tenants.create(unique_slug("many"), "Many", tool_url="https://tool.example/launch")
        await add_registration(services, created)
        slugs.append(created.tenant.slug)
        tenant = await directory.tenant(created.tenant.slug)
        assert tenant is not None
        assert await directory.registrations(tenant.id, ISSUER)

    assert directory.answers_held() == 6  # three tenants, three issuers' registrations
    # One no longer held is read again.
    first = await directory.tenant(slugs[0])
    assert first is not None and first.slug == slugs[0]
