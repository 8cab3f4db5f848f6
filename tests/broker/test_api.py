"""The pull API: authentication, tenant isolation, pagination and problem details."""

from __future__ import annotations

import httpx
import pytest

from broker.registration.models import Deployment, Registration
from broker.services import Services
from tenants.services import CreatedTenant
from tests.broker.api.support import assert_problem
from tests.conftest import RunningBroker, unique_slug

ITEM_KEYS = {
    "id",
    "issuer",
    "client_id",
    "deployment_ids",
    "jwks_uri",
    "token_endpoint",
    "authorization_endpoint",
    "registration_endpoint",
    "product_family_code",
    "status",
    "created_at",
    "updated_at",
}


async def add_registrations(services: Services, tenant: CreatedTenant, count: int) -> list[str]:
    ids = []
    async with services.database.transaction() as session:
        for number in range(count):
            registration = Registration(
                tenant_id=tenant.tenant.id,
                issuer="https://lms.example.edu",
                # A platform client belongs to one tenant: each tenant's test LMS numbers its own.
                client_id=f"{tenant.tenant.slug}-client-{number}",
                status="active",
                product_family_code="moodle",
                authorization_endpoint="https://lms.example.edu/auth",
                token_endpoint="https://lms.example.edu/token",
                jwks_uri="https://lms.example.edu/jwks",
                registration_endpoint="https://lms.example.edu/register",
                deployments=[Deployment(deployment_id=f"dep-{number}", source="registration")],
            )
            session.add(registration)
            await session.flush()
            ids.append(registration.id)
    return ids


async def get(http: httpx.AsyncClient, broker: RunningBroker, path: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await http.get(broker.url(path), headers=headers)


@pytest.mark.parametrize("key", [None, "wrong", "lbk_" + "x" * 43])
async def test_missing_or_wrong_key_is_a_401_problem(
    http: httpx.AsyncClient, broker: RunningBroker, key: str | None
) -> None:
    response = await get(http, broker, "/api/v1/registrations", key)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401 and response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_items_have_the_contract_fields_and_pages_chain(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    ids = await add_registrations(services, tenant, 5)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        path = "/api/v1/registrations?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = (await get(http, broker, path, tenant.api_key)).json()
        assert all(set(item) >= ITEM_KEYS for item in body["items"])
        seen += [item["id"] for item in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == ids
    single = (await get(http, broker, f"/api/v1/registrations/{ids[0]}", tenant.api_key)).json()
    assert single["deployment_ids"] == ["dep-0"] and single["client_id"] == f"{tenant.tenant.slug}-client-0"


async def test_a_tenant_never_sees_another_tenants_registrations(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    other = await services.tenants.create(unique_slug("other"), "Other")
    (other_id,) = await add_registrations(services, other, 1)
    mine = (await get(http, broker, "/api/v1/registrations", tenant.api_key)).json()["items"]
    assert other_id not in [item["id"] for item in mine]
    response = await get(http, broker, f"/api/v1/registrations/{other_id}", tenant.api_key)
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


# `²` is what str.isdigit() accepts and int() refuses.
@pytest.mark.parametrize("query", ["cursor=%%%", "limit=0", "limit=abc", "limit=1000", "limit=%C2%B2", "limit=1e400"])
async def test_bad_paging_parameters_are_422_problems_naming_the_parameter(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant, query: str
) -> None:
    response = await get(http, broker, f"/api/v1/registrations?{query}", tenant.api_key)
    assert_problem(response, 422, field=query.partition("=")[0])


async def test_unknown_api_route_is_a_problem_not_a_page(http: httpx.AsyncClient, broker: RunningBroker) -> None:
    response = await http.get(broker.url("/api/v1/nothing"))
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
