"""Signing-key rotation: the next key is published before it signs, the old one stays published for a grace
period after it stops, then goes; and each signed token names the key that signed it."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from joserfc.jwk import JWKRegistry
from sqlalchemy import select, update

from broker.database import utcnow
from broker.key_rotation import PUBLISH_AHEAD, RETIRED_KEY_GRACE, KeyRotationService
from broker.launch import jose
from broker.services import Services
from broker.webhooks.models import OutboxEvent
from tenants.models import SigningKey
from tenants.services import CreatedTenant
from tests.conftest import RunningBroker

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def published_kids(services: Services, tenant: CreatedTenant) -> list[str]:
    keys = await services.key_ring.get(tenant.tenant.slug)
    assert keys is not None
    return [key["kid"] for key in json.loads(keys.jwks)["keys"]]


async def signing_kid(services: Services, tenant: CreatedTenant) -> str:
    keys = await services.key_ring.get(tenant.tenant.slug)
    assert keys is not None and keys.signing_key is not None
    return keys.signing_key["kid"]


def header_kid(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


async def test_a_rotation_publishes_first_signs_later_and_removes_the_old_key_last(
    services: Services, tenant: CreatedTenant
) -> None:
    rotation = services.key_rotation
    start = utcnow()
    new_kid = (await rotation.start(tenant.tenant.id, start)).next_key.kid

    assert await published_kids(services, tenant) == [tenant.kid, new_kid]
    assert await signing_kid(services, tenant) == tenant.kid, "a published key does not sign yet"

    await rotation.advance(start + PUBLISH_AHEAD - timedelta(seconds=1))
    assert await signing_kid(services, tenant) == tenant.kid

    activated = start + PUBLISH_AHEAD
    await rotation.advance(activated)
    assert await signing_kid(services, tenant) == new_kid
    assert await published_kids(services, tenant) == [tenant.kid, new_kid], "the retired key stays published"

    await rotation.advance(activated + RETIRED_KEY_GRACE - timedelta(seconds=1))
    assert tenant.kid in await published_kids(services, tenant)
    await rotation.advance(activated + RETIRED_KEY_GRACE)
    assert await published_kids(services, tenant) == [new_kid]


async def test_activation_announces_keys_rotated(services: Services, tenant: CreatedTenant) -> None:
    start = utcnow()
    new_kid = (await services.key_rotation.start(tenant.tenant.id, start)).next_key.kid
    await services.key_rotation.advance(start + PUBLISH_AHEAD)
    await services.key_rotation.advance(start + PUBLISH_AHEAD)  # a second pass (another process) does nothing
    async with services.database.session() as session:
        events = (await session.scalars(select(OutboxEvent).where(OutboxEvent.tenant_id == tenant.tenant.id))).all()
    (event,) = events
    assert event.type == "keys.rotated"
    assert event.payload["data"]["kid"] == new_kid and event.payload["data"]["previous_kid"] == tenant.kid
    assert event.payload["data"]["jwks_url"].endswith(f"/t/{tenant.tenant.slug}/.well-known/jwks.json")


async def test_tokens_name_the_kid_they_were_signed_with_across_a_rotation(
    services: Services, tenant: CreatedTenant
) -> None:
    before = await services.key_ring.get(tenant.tenant.slug)
    assert before is not None and before.signing_key is not None
    old_token = jose.sign({"sub": "x"}, before.signing_key, now=time.time(), lifetime=60)

    start = utcnow()
    await services.key_rotation.start(tenant.tenant.id, start)
    await services.key_rotation.advance(start + PUBLISH_AHEAD)
    after = await services.key_ring.get(tenant.tenant.slug)
    assert after is not None and after.signing_key is not None
    new_token = jose.sign({"sub": "x"}, after.signing_key, now=time.time(), lifetime=60)

    assert header_kid(old_token) == tenant.kid and header_kid(new_token) == after.signing_key["kid"]
    key_set = after.key_set()  # the published JWKS still verifies both
    assert jose.verify(old_token, key_set, {"RS256"})["sub"] == "x"
    assert jose.verify(new_token, key_set, {"RS256"})["sub"] == "x"


async def test_starting_twice_keeps_one_rotation(services: Services, tenant: CreatedTenant) -> None:
    first = await services.key_rotation.start(tenant.tenant.id)
    second = await services.key_rotation.start(tenant.tenant.id)
    assert first.started and not second.started and first.next_key.kid == second.next_key.kid
    assert len(await published_kids(services, tenant)) == 2


async def test_automatic_rotation_starts_when_the_active_key_is_old_enough(
    services: Services, tenant: CreatedTenant
) -> None:
    async with services.database.transaction() as session:
        await session.execute(
            update(SigningKey)
            .where(SigningKey.tenant_id == tenant.tenant.id)
            .values(activated_at=utcnow() - timedelta(days=31))
        )
    off = KeyRotationService(services.database, services.settings, services.secret_box, services.key_ring)
    await off.schedule()
    assert len(await published_kids(services, tenant)) == 1, "no schedule unless configured"

    settings = replace(services.settings, key_rotation_days=30)
    scheduled = KeyRotationService(services.database, settings, services.secret_box, services.key_ring)
    await scheduled.schedule()
    await scheduled.schedule()
    kids = await published_kids(services, tenant)
    assert len(kids) == 2 and kids[0] == tenant.kid


async def test_rotation_over_the_api_publishes_the_next_key_in_the_jwks_at_once(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    auth = {"Authorization": f"Bearer {tenant.api_key}"}
    response = await http.post(broker.url("/api/v1/keys/rotate"), headers=auth)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "next" and body["started"] and body["activates_at"] > body["published_at"]
    jwks = (await http.get(broker.url(f"/t/{tenant.tenant.slug}/.well-known/jwks.json"))).json()
    assert [key["kid"] for key in jwks["keys"]] == [tenant.kid, body["kid"]]
    assert all(not {"d", "p", "q"} & set(key) for key in jwks["keys"])
    assert JWKRegistry.import_key(body["public_jwk"]).kid == body["kid"]  # a usable public key
    listed = (await http.get(broker.url("/api/v1/keys"), headers=auth)).json()["items"]
    assert [(key["kid"], key["status"]) for key in listed] == [(tenant.kid, "active"), (body["kid"], "next")]
