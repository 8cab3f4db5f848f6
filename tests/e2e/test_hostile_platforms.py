"""What a hostile or broken platform can send, end to end: malformed URLs and redirects to other schemes.
Each must be a clear refusal with a 4xx or 502, never a server error."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broker.app import Services
from tests.conftest import RunningBroker, unique_slug
from tests.e2e.flow import register
from tests.e2e.test_registration import registration_url
from tests.emulators import GenericEmulator
from tests.emulators.server import base_url_of, bind_loopback, serve_on

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
