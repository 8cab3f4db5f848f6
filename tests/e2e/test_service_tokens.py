"""Service tokens and verification end to end: the broker asks the platform emulator's token endpoint, which
verifies our client assertion with the tenant's JWKS (fetched from the registered jwks_uri) and checks `aud`
as that platform does. Tokens are cached per registration and scope set, for every broker process.
"""

from __future__ import annotations

from urllib.parse import urljoin

import httpx
import pytest
from sqlalchemy import update

from broker.registration.models import Registration
from broker.services import Services
from tests.conftest import RunningBroker
from tests.e2e.flow import forms_of, posts_close_message
from tests.e2e.launching import Registered, registered
from tests.emulators import BrightspaceEmulator, CanvasEmulator, GenericEmulator, MoodleEmulator, PlatformEmulator
from tests.emulators.generic import AGS_SCOPES, NRPS_SCOPE
from tests.emulators.launch import unverified_part

LINEITEM, SCORE = AGS_SCOPES[0], AGS_SCOPES[3]


async def ask(http: httpx.AsyncClient, broker: RunningBroker, setup: Registered, scopes: object) -> httpx.Response:
    return await http.post(
        broker.url(f"/api/v1/registrations/{setup.registration['id']}/token"),
        json={"scopes": scopes},
        headers=setup.api_headers,
    )


async def test_a_token_is_granted_and_then_served_from_the_shared_cache(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        first = await ask(http, broker, setup, [LINEITEM, SCORE])
        again = await ask(http, broker, setup, [SCORE, LINEITEM, SCORE])
        # Another broker process (its own engine and services) gets the same token from the database.
        elsewhere = await services.tokens.token(setup.tenant.tenant, setup.registration["id"], [LINEITEM, SCORE])
        other_set = await ask(http, broker, setup, [NRPS_SCOPE])
        (request, _) = setup.platform.token_requests

    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and 3500 < body["expires_in"] <= 3600
    assert set(body["scope"].split()) == {LINEITEM, SCORE}
    assert again.json()["access_token"] == body["access_token"] == elsewhere.access_token
    assert other_set.json()["access_token"] != body["access_token"]
    assert len(setup.platform.issued_access_tokens) == 2
    assertion = unverified_part(request["form"]["client_assertion"], 1)
    assert assertion["iss"] == assertion["sub"] == setup.registration["client_id"]
    assert assertion["aud"] == setup.registration["token_endpoint"]
    assert body["access_token"] not in str(setup.registration)


@pytest.mark.parametrize("emulator", [CanvasEmulator, BrightspaceEmulator, MoodleEmulator])
async def test_each_platform_accepts_our_client_assertion(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, emulator: type[PlatformEmulator]
) -> None:
    async with registered(http, broker, services, emulator) as setup:
        scopes = [scope for scope in setup.registration["scopes_granted"] if scope != "openid"]
        answer = await ask(http, broker, setup, scopes)
        second = await ask(http, broker, setup, scopes)
    assert answer.status_code == 200, answer.text
    assert second.json()["access_token"] == answer.json()["access_token"]
    assert len(setup.platform.issued_access_tokens) == 1


async def test_two_grants_never_share_a_jti(http: httpx.AsyncClient, broker: RunningBroker, services: Services) -> None:
    async with registered(http, broker, services) as setup:
        await ask(http, broker, setup, [LINEITEM])
        await ask(http, broker, setup, [SCORE])
        ids = [unverified_part(r["form"]["client_assertion"], 1)["jti"] for r in setup.platform.token_requests]
    assert len(set(ids)) == 2


async def test_an_invalid_scope_answer_is_passed_back_and_marks_scope_drift(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        setup.platform.revoked_scopes.add(SCORE)  # the LMS admin took the grant back after registering
        answer = await ask(http, broker, setup, [SCORE])
        item = (
            await http.get(broker.url(f"/api/v1/registrations/{setup.registration['id']}"), headers=setup.api_headers)
        ).json()
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert "invalid_scope" in answer.json()["detail"] and SCORE in answer.json()["detail"]
    assert item["scope_drift"]["scopes"] == [SCORE]
    assert item["scope_drift"]["error"] == "invalid_scope"


async def test_a_platform_refusal_is_a_502_with_its_words(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    refusal = (401, b'{"error":"invalid_client","error_description":"key <revoked>"}', "application/json")
    async with registered(http, broker, services, token_response=refusal) as setup:
        answer = await ask(http, broker, setup, [LINEITEM])
    assert answer.status_code == 502
    assert answer.json()["detail"] == "The platform answered HTTP 401, invalid_client: key <revoked>"


@pytest.mark.parametrize("scopes", [None, [], "a b", [""], ["has space"], [1]])
async def test_bad_scopes_are_a_422_naming_them(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, scopes: object
) -> None:
    async with registered(http, broker, services) as setup:
        answer = await ask(http, broker, setup, scopes)
    assert answer.status_code == 422 and answer.json()["field"].startswith("scopes")
    assert not setup.platform.token_requests


async def test_another_tenants_registration_is_not_found(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as first, registered(http, broker, services) as second:
        answer = await http.post(
            broker.url(f"/api/v1/registrations/{first.registration['id']}/token"),
            json={"scopes": [LINEITEM]},
            headers=second.api_headers,
        )
    assert answer.status_code == 404


async def test_verify_asks_for_a_fresh_token_with_the_granted_scopes(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services, GenericEmulator) as setup:
        assert setup.registration["verified_at"] is None
        url = broker.url(f"/api/v1/registrations/{setup.registration['id']}/verify")
        first = await http.post(url, headers=setup.api_headers)
        second = await http.post(url, headers=setup.api_headers)
        (request, _) = setup.platform.token_requests
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["verified"] is True and "access_token" not in body
    granted = [scope for scope in setup.registration["scopes_granted"] if scope != "openid"]
    assert sorted(request["form"]["scope"].split()) == sorted(granted)
    assert body["registration"]["verified_at"] is not None
    assert second.json()["registration"]["verified_at"] >= body["registration"]["verified_at"]


async def test_verify_without_service_scopes_says_the_first_launch_verifies(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services, GenericEmulator) as setup:
        async with services.database.transaction() as session:
            await session.execute(
                update(Registration).where(Registration.id == setup.registration["id"]).values(scopes_granted=[])
            )
        answer = await http.post(
            broker.url(f"/api/v1/registrations/{setup.registration['id']}/verify"), headers=setup.api_headers
        )
    assert answer.status_code == 409
    assert "first launch" in answer.json()["detail"]
    assert not setup.platform.token_requests


async def test_the_confirmation_pages_verify_button_shows_the_result_and_works_once(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        (form,) = forms_of(setup.confirmation.text)
        action = urljoin(str(setup.confirmation.url), form.action)
        page = await http.post(action, data=form.fields)
        again = await http.post(action, data=form.fields)
        tampered = await http.post(action, data={"state": "x"})
    assert page.status_code == 200, page.text
    assert "works with your platform" in page.text and "Quiz &lt;Tool&gt;" in page.text
    assert setup.platform.issued_access_tokens[0]["access_token"] not in page.text
    assert posts_close_message(page.text)
    assert again.status_code == 400 and "already used" in again.text
    assert len(setup.platform.token_requests) == 1
    assert tampered.status_code == 400 and "expired" in tampered.text
    assert not posts_close_message(tampered.text)


async def test_a_refused_verification_offers_one_more_try_that_works_once_the_lms_grants_again(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        setup.platform.revoked_scopes.add(SCORE)  # the admin has not finished setting the tool up in the LMS
        (form,) = forms_of(setup.confirmation.text)
        refused = await http.post(urljoin(str(setup.confirmation.url), form.action), data=form.fields)
        (retry,) = forms_of(refused.text)
        setup.platform.revoked_scopes.clear()
        page = await http.post(urljoin(str(refused.url), retry.action), data=retry.fields)
        spent = await http.post(urljoin(str(refused.url), retry.action), data=retry.fields)
    assert refused.status_code == 403 and "invalid_scope" in refused.text
    assert page.status_code == 200 and "works with your platform" in page.text
    assert spent.status_code == 400 and "already used" in spent.text
    assert not posts_close_message(refused.text), "a failure stays open for the admin to read"


async def test_without_service_scopes_the_page_says_the_first_launch_verifies(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services, tool_configuration={"scopes": []}) as setup:
        page = setup.confirmation.text
    assert not forms_of(page)
    assert "first launch will verify" in page and "add the tool" in page


async def test_a_registration_made_before_platform_bound_keys_keeps_signing_with_the_tenant_key(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        # As the migration leaves it: no key set, and the platform holds the tenant's own JWKS URL.
        async with services.database.transaction() as session:
            await session.execute(
                update(Registration).where(Registration.id == setup.registration["id"]).values(key_set=None)
            )
        services.key_ring.invalidate(setup.slug)
        tenant_jwks = broker.url(f"/t/{setup.slug}/.well-known/jwks.json")
        setup.platform.registered_client()["jwks_uri"] = tenant_jwks
        answer = await ask(http, broker, setup, [LINEITEM])
        (request,) = setup.platform.token_requests
    assert answer.status_code == 200, answer.text
    assert unverified_part(request["form"]["client_assertion"], 0)["kid"] == setup.tenant.kid


async def test_a_new_registration_gives_the_platform_its_own_jwks_url(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        jwks_uri = setup.platform.registered_client()["jwks_uri"]
        answer = await ask(http, broker, setup, [LINEITEM])
        (request,) = setup.platform.token_requests
        platform_keys = (await http.get(jwks_uri)).json()["keys"]
    assert jwks_uri.startswith(broker.url(f"/t/{setup.slug}/keys/"))
    assert answer.status_code == 200, answer.text
    kid = unverified_part(request["form"]["client_assertion"], 0)["kid"]
    assert kid != setup.tenant.kid and [key["kid"] for key in platform_keys] == [kid]


async def test_an_unrecognised_brightspace_like_platform_gets_tokens_with_its_authorization_server_as_aud(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    unknown = {"product_family_code": "acme-learning"}
    async with registered(http, broker, services, BrightspaceEmulator, platform_config_patch=unknown) as setup:
        answer = await ask(http, broker, setup, [LINEITEM])
        (request,) = setup.platform.token_requests
    assert setup.registration["platform_profile"] == "generic"
    assert answer.status_code == 200, answer.text
    audience = setup.registration["authorization_server"]
    assert audience != setup.registration["token_endpoint"]
    assert unverified_part(request["form"]["client_assertion"], 1)["aud"] == audience


async def test_a_published_authorization_server_is_the_audience_and_without_one_the_token_endpoint_is(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    with_server = {"authorization_server": "https://auth.lms.example/oauth2"}
    async with registered(http, broker, services, GenericEmulator, config_patch=with_server) as published:
        granted = await ask(http, broker, published, [LINEITEM])
        (request,) = published.platform.token_requests
    async with registered(http, broker, services, GenericEmulator) as bare:
        await ask(http, broker, bare, [LINEITEM])
        (fallback,) = bare.platform.token_requests
    assert granted.status_code == 200, granted.text
    assert unverified_part(request["form"]["client_assertion"], 1)["aud"] == "https://auth.lms.example/oauth2"
    assert unverified_part(fallback["form"]["client_assertion"], 1)["aud"] == bare.registration["token_endpoint"]


async def test_a_token_the_platform_says_lives_for_ever_is_kept_a_day_at_most(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services, access_token_lifetime=10**12) as setup:
        first = await ask(http, broker, setup, [LINEITEM])
        cached = await ask(http, broker, setup, [LINEITEM])
    assert first.status_code == 200, first.text
    assert 86000 < first.json()["expires_in"] <= 86400
    assert cached.json()["access_token"] == first.json()["access_token"]
