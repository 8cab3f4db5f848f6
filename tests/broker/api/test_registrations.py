"""Registrations over the API: filters, status changes with their events, deployments, tenant isolation."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import update

from broker.api.pagination import encode_cursor
from broker.database import json_time, utcnow
from broker.registration.models import Deployment, Registration
from broker.services import Services
from tenants.services import CreatedTenant
from tests.broker.api.support import ApiClient, assert_problem
from tests.broker.test_api import add_registrations
from tests.conftest import RunningBroker, unique_slug

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def api(http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant) -> ApiClient:
    return ApiClient(http, broker, tenant.api_key)


async def set_registration(services: Services, registration_id: str, **values: object) -> None:
    async with services.database.transaction() as session:
        await session.execute(update(Registration).where(Registration.id == registration_id).values(**values))


async def event_types(api: ApiClient) -> list[str]:
    return [item["type"] for item in (await api.json("GET", "/api/v1/events"))["items"]]


async def test_filters_by_status_platform_and_update_time(
    api: ApiClient, services: Services, tenant: CreatedTenant
) -> None:
    first, second, third = await add_registrations(services, tenant, 3)
    long_ago = utcnow() - timedelta(days=3)
    await set_registration(services, first, status="pending", updated_at=long_ago)
    await set_registration(services, second, product_family_code="canvas", updated_at=long_ago)

    async def ids(query: str) -> list[str]:
        return [item["id"] for item in (await api.json("GET", f"/api/v1/registrations?{query}"))["items"]]

    assert await ids("status=pending") == [first]
    assert await ids("status=active") == [second, third]
    assert await ids("product_family_code=canvas") == [second]
    since = quote(json_time(utcnow() - timedelta(days=1)) or "")
    assert await ids(f"updated_since={since}") == [third]
    assert await ids(f"status=active&product_family_code=moodle&updated_since={since}") == [third]


@pytest.mark.parametrize(
    "query",
    [
        "status=gone",
        "updated_since=yesterday",
        "updated_since=2026-01-01T00:00:00",
        # At the edges of the calendar, a zone moves these times past it.
        "updated_since=9999-12-31T23:59:59-23:59",
        "updated_since=0001-01-01T00:00:00%2B23:59",
        "updated_since=99999-01-01T00:00:00Z",
        "product_family_code=moo%00dle",
        # Digits str.isdigit() accepts that int() does not, and digits of other scripts.
        "limit=%C2%B2",
        "limit=%D9%A1%D9%A2",
        "limit=%EF%BC%95",
    ],
)
async def test_bad_filters_are_422_problems_naming_the_parameter(api: ApiClient, query: str) -> None:
    assert_problem(await api.get(f"/api/v1/registrations?{query}"), 422, field=query.partition("=")[0])


async def test_the_latest_time_in_utc_is_a_filter_like_any_other(api: ApiClient) -> None:
    assert (await api.json("GET", "/api/v1/registrations?updated_since=9999-12-31T23:59:59Z"))["items"] == []


async def test_activate_disable_and_enable_change_the_status_and_announce_it(
    api: ApiClient, services: Services, tenant: CreatedTenant
) -> None:
    (registration_id,) = await add_registrations(services, tenant, 1)
    await set_registration(services, registration_id, status="pending")
    path = f"/api/v1/registrations/{registration_id}"

    activated = await api.json("POST", f"{path}/activate")
    assert activated["status"] == "active" and activated["updated_at"] >= activated["created_at"]
    assert (await api.json("POST", f"{path}/activate"))["status"] == "active"  # already: no change, no event
    assert (await api.json("POST", f"{path}/disable"))["status"] == "disabled"
    refused = assert_problem(await api.post(f"{path}/activate"), 409)
    assert "enable" in refused["detail"]
    assert (await api.json("POST", f"{path}/enable"))["status"] == "active"
    assert (await api.json("GET", path))["status"] == "active"

    assert await event_types(api) == ["registration.activated", "registration.disabled", "registration.activated"]
    feed = (await api.json("GET", "/api/v1/events"))["items"]
    assert feed[-1]["data"] == await api.json("GET", path), "the event carries the registration as the API shows it"


async def test_a_tenant_cannot_change_or_read_another_tenants_registration(api: ApiClient, services: Services) -> None:
    other = await services.tenants.create(unique_slug("other"), "Other")
    (other_id,) = await add_registrations(services, other, 1)
    for action in ("activate", "disable", "enable"):
        assert_problem(await api.post(f"/api/v1/registrations/{other_id}/{action}"), 404)
    assert_problem(await api.get(f"/api/v1/registrations/{other_id}/deployments"), 404)
    async with services.database.session() as session:
        row = await session.get(Registration, other_id)
    assert row is not None and row.status == "active"


async def test_deployments_of_a_registration(api: ApiClient, services: Services, tenant: CreatedTenant) -> None:
    (registration_id,) = await add_registrations(services, tenant, 1)
    body = await api.json("GET", f"/api/v1/registrations/{registration_id}/deployments")
    (deployment,) = body["items"]
    assert deployment["deployment_id"] == "dep-0" and deployment["source"] == "registration"
    assert deployment["created_at"].endswith("Z") and body["next"] is None


async def test_a_registration_whose_client_another_tenant_holds_cannot_be_enabled(
    api: ApiClient, services: Services, tenant: CreatedTenant
) -> None:
    """The upgrade that resolved a client held by two tenants left one of them disabled; it stays so."""
    (held,) = await add_registrations(services, tenant, 1)
    other = await services.tenants.create(unique_slug("other"), "Other")
    (copy,) = await add_registrations(services, other, 1)
    await set_registration(services, copy, status="disabled")
    async with services.database.session() as session:
        client_id = (await session.get(Registration, held)).client_id  # type: ignore[union-attr]
    await set_registration(services, copy, client_id=client_id)
    other_api = ApiClient(api.http, api.broker, other.api_key)
    body = assert_problem(await other_api.post(f"/api/v1/registrations/{copy}/enable"), 409)
    assert "belongs to another tool" in body["detail"]
    assert (await other_api.json("GET", f"/api/v1/registrations/{copy}"))["status"] == "disabled"


async def test_a_listed_registration_is_shown_as_its_own_route_shows_it(
    api: ApiClient, services: Services, tenant: CreatedTenant
) -> None:
    """Listings read plain columns, the single route the whole row: both show the same item, whatever it holds."""
    ids = await add_registrations(services, tenant, 4)
    login = "https://tool.example:8443/t/x/lti/login"
    await set_registration(
        services, ids[0],
        token_endpoint="https://lms.example.edu/token?client_secret=s3cret&x=1",
        jwks_uri="https://lms.example.edu/jwks?key=abc",
        authorization_endpoint="https://lms.example.edu/auth#frag?not=query",
        scopes_requested=["openid", "https://purl.imsglobal.org/spec/lti-ags/scope/score"],
        scopes_granted=["openid"],
        adaptations=["scopes narrowed by the LMS admin"],
        registration_request={"initiate_login_uri": login},
        scope_drift={"missing": ["x"]},
        launched_at=utcnow(),
        platform_version="4.5",
    )
    await set_registration(services, ids[1], registration_request={"initiate_login_uri": 12}, adaptations=None)
    await set_registration(services, ids[2], registration_request={"initiate_login_uri": "//evil.example/x"})
    async with services.database.transaction() as session:
        session.add(Deployment(registration_id=ids[3], deployment_id="dep-second", source="launch"))

    listed = (await api.json("GET", "/api/v1/registrations?limit=2"))["items"]
    listed += (await api.json("GET", f"/api/v1/registrations?limit=2&cursor={encode_cursor(ids[1])}"))["items"]

    assert [item["id"] for item in listed] == ids
    for item in listed:
        assert item == await api.json("GET", f"/api/v1/registrations/{item['id']}")
    assert listed[0]["tool_host"] == "tool.example:8443" and listed[0]["scopes_narrowed"] is True
    assert "s3cret" not in str(listed[0]) and listed[1]["tool_host"] is None
    assert listed[3]["deployment_ids"] == ["dep-3", "dep-second"]
