"""A tenant's webhook endpoint: URLs refused at configuration time, and secret rotation with a grace period."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from standardwebhooks import Webhook

from broker.database import utcnow
from broker.services import Services
from broker.webhooks.signer import signed_headers
from tenants.services import WEBHOOK_SECRET_GRACE, TenantError, TenantService
from tests.conftest import RunningBroker, unique_slug

pytestmark = pytest.mark.asyncio(loop_scope="session")

INTERNAL_URLS = [
    "https://127.0.0.1/hooks",
    "https://localhost/hooks",
    "https://10.1.2.3/hooks",
    "https://192.168.0.10/hooks",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/hooks",
    "https://[::ffff:10.0.0.1]/hooks",
]


def strict(services: Services) -> TenantService:
    settings = replace(services.settings, allow_insecure_platforms=False)
    return TenantService(services.database, settings, services.secret_box, services.key_ring)


@pytest.mark.parametrize("url", [*INTERNAL_URLS, "http://93.184.215.14/hooks"])
async def test_an_internal_or_plain_http_webhook_url_is_refused_when_the_tenant_is_created(
    services: Services, url: str
) -> None:
    with pytest.raises(TenantError) as caught:
        await strict(services).create(unique_slug("strict"), "Strict", webhook_url=url)
    assert caught.value.field == "webhook_url"


async def test_a_public_https_webhook_url_is_accepted(services: Services) -> None:
    created = await strict(services).create(unique_slug("strict"), "Strict", webhook_url="https://93.184.215.14/hooks")
    assert created.tenant.webhook_url == "https://93.184.215.14/hooks" and created.webhook_secret


@pytest.mark.parametrize("url", ["https://127.0.0.1/hooks", "https://localhost:8443/hooks", "https://10.0.0.8/x"])
async def test_setting_an_internal_webhook_url_over_the_api_is_a_422_problem(
    http: httpx.AsyncClient, strict_broker: RunningBroker, services: Services, url: str
) -> None:
    created = await services.tenants.create(unique_slug("strict"), "Strict")
    response = await http.put(
        strict_broker.url("/api/v1/webhook"), json={"url": url}, headers={"Authorization": f"Bearer {created.api_key}"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "address" in response.json()["detail"]
    assert (await services.tenants.get_by_slug(created.tenant.slug)).webhook_url is None  # type: ignore[union-attr]


async def test_the_first_webhook_url_comes_with_a_secret_shown_once(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("hook"), "Hook")
    headers = {"Authorization": f"Bearer {created.api_key}"}
    first = await http.put(broker.url("/api/v1/webhook"), json={"url": "https://93.184.215.14/a"}, headers=headers)
    assert first.status_code == 200 and first.json()["secret"].startswith("whsec_")
    again = await http.put(broker.url("/api/v1/webhook"), json={"url": "https://93.184.215.14/b"}, headers=headers)
    assert "secret" not in again.json() and again.json()["url"] == "https://93.184.215.14/b"
    shown = (await http.get(broker.url("/api/v1/webhook"), headers=headers)).json()
    assert shown == {"url": "https://93.184.215.14/b", "secret_set": True, "previous_secret_expires_at": None}


async def test_after_a_rotation_old_and_new_secret_both_verify_until_the_grace_period_ends(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("hook"), "Hook", webhook_url="https://93.184.215.14/h")
    old = created.webhook_secret
    assert old
    response = await http.post(
        broker.url("/api/v1/webhook/rotate-secret"), headers={"Authorization": f"Bearer {created.api_key}"}
    )
    assert response.status_code == 200
    new = response.json()["secret"]
    assert new != old and response.json()["previous_secret_expires_at"]

    tenant = await services.tenants.get_by_slug(created.tenant.slug)
    assert tenant is not None
    now = utcnow()
    during = services.tenants.webhook_signing_secrets(tenant, now)
    assert during == [new, old]
    body = b'{"type":"keys.rotated"}'
    headers = signed_headers("msg_x", int(time.time()), body, during)
    assert Webhook(old).verify(body, headers) and Webhook(new).verify(body, headers)
    assert services.tenants.webhook_signing_secrets(tenant, now + WEBHOOK_SECRET_GRACE + timedelta(seconds=1)) == [new]
