"""Registration attempts over the API: failed ones included, found by the reference the LMS admin saw."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from broker.registration import attempts
from broker.registration.models import AttemptStatus
from broker.services import Services
from tests.broker.api.support import ApiClient, assert_problem
from tests.broker.registration.test_attempts import stalled_attempt, store_nested_documents
from tests.conftest import RunningBroker, unique_slug
from tests.e2e.flow import register
from tests.emulators import GenericEmulator

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_failed_attempt_is_listed_with_the_documents_and_the_reference_shown(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("fail"), "Failing Tool")
    refusal = (400, b'{"error": "invalid_client_metadata", "registration_access_token": "s3cr3t"}', "application/json")
    with GenericEmulator.running(registration_response=refusal) as platform:
        outcome = await register(http, broker.url(f"/t/{created.tenant.slug}/lti/register"), platform)
        token = platform.configuration_requests[0].authorization
    assert outcome.last_page.status_code == 502

    api = ApiClient(http, broker, created.api_key)
    (attempt,) = (await api.json("GET", "/api/v1/registration-attempts?status=failed"))["items"]
    assert attempt["id"] in outcome.last_page.text, "the id is the reference on the failure page"
    assert attempt["status"] == "failed" and attempt["error_code"] and attempt["response_status"] == 400
    assert attempt["platform_configuration"]["issuer"] == platform.issuer
    assert attempt["registration_request"]["client_name"] == "Failing Tool"
    assert "invalid_client_metadata" in attempt["response_body"] and "s3cr3t" not in attempt["response_body"]
    assert token and token.removeprefix("Bearer ") not in str(attempt)
    assert await api.json("GET", f"/api/v1/registration-attempts/{attempt['id']}") == attempt
    assert (await api.json("GET", "/api/v1/registration-attempts?status=succeeded"))["items"] == []


async def test_attempts_of_another_tenant_stay_hidden(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    owner = await services.tenants.create(unique_slug("own"), "Owner")
    with GenericEmulator.running() as platform:
        await register(http, broker.url(f"/t/{owner.tenant.slug}/lti/register"), platform)
    (attempt,) = (await ApiClient(http, broker, owner.api_key).json("GET", "/api/v1/registration-attempts"))["items"]
    stranger = await services.tenants.create(unique_slug("other"), "Other")
    api = ApiClient(http, broker, stranger.api_key)
    assert (await api.json("GET", "/api/v1/registration-attempts"))["items"] == []
    assert_problem(await api.get(f"/api/v1/registration-attempts/{attempt['id']}"), 404)


async def test_a_deeply_nested_platform_answer_never_breaks_the_listing_or_the_history(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("deep"), "Deep Tool")
    with GenericEmulator.running() as platform:
        await register(http, broker.url(f"/t/{created.tenant.slug}/lti/register"), platform)
    api = ApiClient(http, broker, created.api_key)
    (attempt,) = (await api.json("GET", "/api/v1/registration-attempts"))["items"]
    await store_nested_documents(services, attempt["registration_id"])

    (shown,) = (await api.json("GET", "/api/v1/registration-attempts"))["items"]
    assert shown["id"] == attempt["id"] and shown["registration_request"] == attempt["registration_request"]
    assert "not shown" in shown["platform_configuration"]["not_shown"]
    assert await api.json("GET", f"/api/v1/registration-attempts/{attempt['id']}") == shown
    (in_history,) = (await api.json("GET", f"/api/v1/registrations/{attempt['registration_id']}/history"))["items"]
    assert in_history == shown
    documents = await api.json("GET", f"/api/v1/registrations/{attempt['registration_id']}/documents")
    assert "not shown" in documents["registration_response"]["not_shown"]


async def test_an_attempt_cut_off_mid_flight_is_listed_as_interrupted_with_what_to_do(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("cut"), "Cut Tool")
    idle = attempts.STALLED_AFTER + timedelta(minutes=1)
    attempt_id = await stalled_attempt(services, created.tenant.id, AttemptStatus.SUBMITTING, idle=idle)
    await attempts.interrupt_stalled(services.database)

    api = ApiClient(http, broker, created.api_key)
    (item,) = (await api.json("GET", "/api/v1/registration-attempts?status=interrupted"))["items"]
    assert item["id"] == attempt_id and item["status"] == "interrupted"
    assert "may have registered" in item["error_detail"]
    assert await api.json("GET", f"/api/v1/registration-attempts/{attempt_id}") == item


async def test_a_listed_attempt_is_shown_as_its_own_route_shows_it(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    """Listings read plain columns, the single route the whole row: both show the same item."""
    created = await services.tenants.create(unique_slug("same"), "Same Tool")
    refusal = (400, b'{"error": "invalid_client_metadata", "client_secret": "s3cr3t"}', "application/json")
    with GenericEmulator.running(registration_response=refusal) as platform:
        await register(http, broker.url(f"/t/{created.tenant.slug}/lti/register"), platform)
    with GenericEmulator.running() as platform:
        await register(http, broker.url(f"/t/{created.tenant.slug}/lti/register"), platform)
    api = ApiClient(http, broker, created.api_key)

    listed = (await api.json("GET", "/api/v1/registration-attempts?limit=1"))["items"]
    cursor = (await api.json("GET", "/api/v1/registration-attempts?limit=1"))["next"]
    listed += (await api.json("GET", f"/api/v1/registration-attempts?limit=5&cursor={cursor}"))["items"]

    assert [item["status"] for item in listed] == ["failed", "succeeded"]
    for item in listed:
        assert item == await api.json("GET", f"/api/v1/registration-attempts/{item['id']}")
    assert "s3cr3t" not in listed[0]["response_body"] and listed[1]["registration_id"]
