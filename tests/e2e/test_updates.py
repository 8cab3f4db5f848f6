"""Registering again from the same platform updates the registration and keeps its history; what was
exchanged stays readable through the API; a platform that granted less than asked is marked.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from broker.services import Services
from tenants.services import CreatedTenant
from tests.conftest import RunningBroker
from tests.e2e.flow import register
from tests.emulators import GenericEmulator

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
AGS_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


def answer(**values: Any) -> tuple[int, bytes, str]:
    return 200, json.dumps({"client_id": "fixed-client", **values}).encode(), "application/json"


async def api(http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant, path: str) -> httpx.Response:
    return await http.get(broker.url(path), headers={"Authorization": f"Bearer {tenant.api_key}"})


async def test_registering_again_updates_the_registration_and_keeps_each_exchange(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    url = broker.url(f"/t/{tenant.tenant.slug}/lti/register")
    with GenericEmulator.running(registration_response=answer(**{TOOL_CONFIGURATION: {"deployment_id": "d1"}})) as lms:
        assert (await register(http, url, lms)).last_page.status_code == 200
        lms.registration_response = answer(**{TOOL_CONFIGURATION: {"deployment_id": "d2"}})
        assert (await register(http, url, lms)).last_page.status_code == 200

    (item,) = (await api(http, broker, tenant, "/api/v1/registrations")).json()["items"]
    assert item["deployment_ids"] == ["d1", "d2"]
    history = (await api(http, broker, tenant, f"/api/v1/registrations/{item['id']}/history")).json()["items"]
    assert [attempt["status"] for attempt in history] == ["succeeded", "succeeded"]
    answers = [json.loads(attempt["response_body"]) for attempt in history]
    assert [a[TOOL_CONFIGURATION]["deployment_id"] for a in answers] == ["d1", "d2"]
    assert all(attempt["registration_request"]["client_name"] == "Acme Quiz" for attempt in history)

    documents = (await api(http, broker, tenant, f"/api/v1/registrations/{item['id']}/documents")).json()
    assert documents["platform_profile"] == "generic"
    assert documents["platform_configuration"]["issuer"] == lms.issuer
    assert documents["registration_request"][TOOL_CONFIGURATION]["domain"] == broker.base_url.removeprefix("http://")
    assert documents["registration_response"][TOOL_CONFIGURATION]["deployment_id"] == "d2"


async def test_documents_and_history_belong_to_their_tenant_only(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    other = await services.tenants.create("other-" + tenant.tenant.slug, "Other Tool")
    with GenericEmulator.running() as lms:
        assert (
            await register(http, broker.url(f"/t/{tenant.tenant.slug}/lti/register"), lms)
        ).last_page.status_code == 200
    (item,) = (await api(http, broker, tenant, "/api/v1/registrations")).json()["items"]
    for path in ("documents", "history"):
        response = await api(http, broker, other, f"/api/v1/registrations/{item['id']}/{path}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await http.get(broker.url(f"/api/v1/registrations/{item['id']}/documents"))).status_code == 401


async def test_a_platform_that_granted_less_is_marked_on_the_page_and_in_the_api(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    with GenericEmulator.running(registration_response=answer(scope=f"{AGS_SCORE} openid")) as lms:
        done = (await register(http, broker.url(f"/t/{tenant.tenant.slug}/lti/register"), lms)).last_page
    assert done.status_code == 200
    assert 'data-scope-drift="true"' in done.text and "Read course rosters" in done.text
    (item,) = (await api(http, broker, tenant, "/api/v1/registrations")).json()["items"]
    assert item["scopes_narrowed"] is True
    assert item["scopes_granted"] == [AGS_SCORE]
    assert AGS_SCORE not in item["scopes_missing"] and len(item["scopes_missing"]) == 3


async def test_a_platform_that_granted_everything_is_not_marked(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    with GenericEmulator.running() as lms:
        done = (await register(http, broker.url(f"/t/{tenant.tenant.slug}/lti/register"), lms)).last_page
    assert done.status_code == 200 and "data-scope-drift" not in done.text
    (item,) = (await api(http, broker, tenant, "/api/v1/registrations")).json()["items"]
    assert item["scopes_narrowed"] is False and item["scopes_missing"] == []
