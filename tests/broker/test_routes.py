"""Routes every user meets: health, the tenant JWKS, not-found pages, and framing rules."""

from __future__ import annotations

import httpx

from tenants.services import CreatedTenant
from tests.conftest import RunningBroker


async def test_healthz(http: httpx.AsyncClient, broker: RunningBroker) -> None:
    response = await http.get(broker.url("/healthz"))
    assert response.status_code == 200 and response.text == "ok"


async def test_jwks_publishes_the_tenants_public_key_with_cache_headers(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    response = await http.get(broker.url(f"/t/{tenant.tenant.slug}/.well-known/jwks.json"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "max-age" in response.headers["cache-control"]
    (key,) = response.json()["keys"]
    assert key["kid"] == tenant.kid and key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


async def test_jwks_answers_with_its_headers_and_only_to_get_and_head(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    url = broker.url(f"/t/{tenant.tenant.slug}/.well-known/jwks.json")
    got, head, posted = await http.get(url), await http.head(url), await http.post(url)
    assert got.headers["access-control-allow-origin"] == "*"
    assert got.headers["x-content-type-options"] == "nosniff" and len(got.headers["x-request-id"]) == 16
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))
    assert posted.status_code == 405 and "Method not allowed" in posted.text


async def test_jwks_of_an_unknown_tenant_is_a_404_problem(http: httpx.AsyncClient, broker: RunningBroker) -> None:
    response = await http.get(broker.url("/t/nobody-here/.well-known/jwks.json"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_unknown_page_is_an_html_404_that_refuses_framing(http: httpx.AsyncClient, broker: RunningBroker) -> None:
    response = await http.get(broker.url("/no/such/page"))
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_registration_pages_may_be_framed_by_any_lms(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    response = await http.get(broker.url(f"/t/{tenant.tenant.slug}/lti/register"))
    assert response.status_code == 400
    assert "x-frame-options" not in response.headers
    assert "frame-ancestors https:" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
