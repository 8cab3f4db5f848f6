"""What a hostile or broken platform can send, end to end: deeply nested JSON in every document the broker reads
from a platform, malformed URLs, redirects to other schemes. Each must be a clear refusal with a 4xx or 502,
never a server error."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broker.app import Services
from tests.conftest import RunningBroker, unique_slug
from tests.e2e.flow import register
from tests.e2e.launching import launch, registered
from tests.e2e.test_launch import LAUNCH_LOGGER, assert_refused
from tests.e2e.test_registration import attempts_of, registration_url, registrations_of
from tests.emulators import GenericEmulator
from tests.emulators.server import base_url_of, bind_loopback, serve_on

# About 3 KB of nesting: enough to raise RecursionError in json.loads.
DEEP_ARRAY = b"[" * 1500 + b"]" * 1500
DEEP_OBJECT = b'{"a":' * 700 + b"1" + b"}" * 700


def inside_an_object(deep: bytes, **fields: str) -> bytes:
    """A JSON object that looks right at the top, with a deeply nested member."""
    members = b"".join(b'"%s":"%s",' % (name.encode(), value.encode()) for name, value in fields.items())
    return b"{" + members + b'"nested":' + deep + b"}"


@pytest.mark.parametrize("deep", [DEEP_ARRAY, DEEP_OBJECT, inside_an_object(DEEP_ARRAY, issuer="x")])
async def test_a_deeply_nested_configuration_is_a_clear_502(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, deep: bytes
) -> None:
    created = await services.tenants.create(unique_slug("deep"), "Deep Tool")
    with GenericEmulator.running(config_response=(200, deep, "application/json")) as platform:
        outcome = await register(http, registration_url(broker, created), platform)
    page = outcome.last_page
    assert page.status_code == 502, page.text
    assert "not JSON" in page.text
    assert [attempt.status for attempt in await attempts_of(services, created)] == ["failed"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(200, inside_an_object(DEEP_OBJECT, client_id="c-1"), id="answer"),
        pytest.param(400, inside_an_object(DEEP_ARRAY, error="invalid_client_metadata"), id="error"),
    ],
)
async def test_a_deeply_nested_registration_answer_is_a_clear_502_and_the_attempts_still_list(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, status: int, body: bytes
) -> None:
    created = await services.tenants.create(unique_slug("deep"), "Deep Tool")
    with GenericEmulator.running(registration_response=(status, body, "application/json")) as platform:
        outcome = await register(http, registration_url(broker, created), platform)
    page = outcome.last_page
    assert page.status_code == 502, page.text
    assert await registrations_of(services, created) == []

    headers = {"Authorization": f"Bearer {created.api_key}"}
    listing = await http.get(broker.url("/api/v1/registration-attempts"), headers=headers)
    assert listing.status_code == 200, listing.text
    (item,) = listing.json()["items"]
    one = await http.get(broker.url(f"/api/v1/registration-attempts/{item['id']}"), headers=headers)
    assert one.status_code == 200, one.text


@pytest.mark.parametrize("deep", [DEEP_ARRAY, inside_an_object(DEEP_OBJECT)])
async def test_a_deeply_nested_platform_key_set_refuses_the_launch_clearly(
    http: httpx.AsyncClient,
    broker: RunningBroker,
    services: Services,
    caplog: pytest.LogCaptureFixture,
    deep: bytes,
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services, jwks_response=(200, deep, "application/json")) as setup:
        done = await launch(http, setup.platform)
    assert done.relay is not None
    assert_refused(done.relay, 424, "JSON", caplog)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(400, inside_an_object(DEEP_ARRAY, error="invalid_scope"), id="refusal"),
        pytest.param(200, inside_an_object(DEEP_OBJECT, access_token="t", token_type="Bearer"), id="grant"),
    ],
)
async def test_a_deeply_nested_token_answer_is_a_problem_json_502(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, status: int, body: bytes
) -> None:
    async with registered(http, broker, services, token_response=(status, body, "application/json")) as setup:
        answer = await http.post(
            broker.url(f"/api/v1/registrations/{setup.registration['id']}/token"),
            json={"scopes": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"]},
            headers=setup.api_headers,
        )
    assert answer.status_code == 502, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


# ----------------------------------------------------------------- malformed URLs


@pytest.mark.parametrize("url", ["https://[::1", "https://[::1]:99999/x", "https://xn--/x", "https://exa mple.test/x"])
async def test_a_malformed_configuration_url_is_a_clear_400(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, url: str
) -> None:
    created = await services.tenants.create(unique_slug("url"), "URL Tool")
    page = await http.get(registration_url(broker, created), params={"openid_configuration": url})
    assert page.status_code == 400, page.text
    assert "openid_configuration" in page.text


@pytest.mark.parametrize(
    "field", ["issuer", "registration_endpoint", "jwks_uri", "token_endpoint", "authorization_endpoint"]
)
async def test_a_malformed_url_in_the_configuration_is_a_clear_400(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, field: str
) -> None:
    created = await services.tenants.create(unique_slug("url"), "URL Tool")
    with GenericEmulator.running(config_patch={field: "https://[::1"}) as platform:
        outcome = await register(http, registration_url(broker, created), platform)
    page = outcome.last_page
    assert page.status_code == 400, page.text
    assert field in page.text


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "http://[::1"])
async def test_a_configuration_url_redirecting_to_another_scheme_is_a_clear_400(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, target: str
) -> None:
    async def moved(request: Request) -> Response:
        return Response(status_code=302, headers={"Location": target})

    created = await services.tenants.create(unique_slug("url"), "URL Tool")
    sock = bind_loopback()
    with serve_on(sock, Starlette(routes=[Route("/config", moved)]), lifespan="off"):
        page = await http.get(
            registration_url(broker, created), params={"openid_configuration": base_url_of(sock) + "/config"}
        )
    assert page.status_code == 400, page.text
    assert "refused" in page.text
