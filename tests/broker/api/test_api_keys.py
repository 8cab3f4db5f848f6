"""API keys over the API: several named keys, shown once, listed without the key, revoked at once."""

from __future__ import annotations

import httpx
import pytest

from broker.services import Services
from tenants.services import CreatedTenant
from tests.broker.api.support import ApiClient, assert_problem
from tests.conftest import RunningBroker, unique_slug

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_create_use_list_and_revoke_a_named_key(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    api = ApiClient(http, broker, tenant.api_key)
    created = await api.json("POST", "/api/v1/api-keys", status=201, json={"name": "reporting job"})
    key = created["key"]
    assert key.startswith(created["prefix"]) and created["name"] == "reporting job"

    second = ApiClient(http, broker, key)
    assert (await second.get("/api/v1/registrations")).status_code == 200
    listed = (await second.json("GET", "/api/v1/api-keys"))["items"]
    assert [item["name"] for item in listed] == ["default", "reporting job"]
    assert all("key" not in item and item["prefix"] for item in listed)
    assert listed[1]["last_used_at"] is not None, "last use is recorded"
    assert key not in str(listed)

    revoked = await api.json("DELETE", f"/api/v1/api-keys/{created['id']}")
    assert revoked["revoked_at"] is not None
    assert_problem(await second.get("/api/v1/registrations"), 401)
    assert (await api.get("/api/v1/registrations")).status_code == 200


async def test_the_last_live_key_cannot_be_revoked(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("keys"), "Keys")
    api = ApiClient(http, broker, created.api_key)
    (only,) = (await api.json("GET", "/api/v1/api-keys"))["items"]
    problem = assert_problem(await api.call("DELETE", f"/api/v1/api-keys/{only['id']}"), 409)
    assert "create another" in problem["detail"]


async def test_keys_of_another_tenant_are_out_of_reach(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    other = await services.tenants.create(unique_slug("other"), "Other")
    (others_key,) = await services.api_keys.list(other.tenant.id)
    api = ApiClient(http, broker, tenant.api_key)
    assert_problem(await api.call("DELETE", f"/api/v1/api-keys/{others_key.id}"), 404)
    assert others_key.id not in str(await api.json("GET", "/api/v1/api-keys"))


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": 7}])
async def test_a_key_needs_a_name(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant, body: dict[str, object]
) -> None:
    assert_problem(await ApiClient(http, broker, tenant.api_key).post("/api/v1/api-keys", json=body), 422)


@pytest.mark.parametrize("body", [b"name=x", b"[1]", b'{"name": "x"', b"\xff"])
async def test_a_body_that_is_not_a_json_object_is_a_422_problem(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant, body: bytes
) -> None:
    api = ApiClient(http, broker, tenant.api_key)
    assert_problem(await api.post("/api/v1/api-keys", content=body), 422)
