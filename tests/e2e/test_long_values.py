"""Long values and NUL characters from a platform, end to end on both engines: PostgreSQL refuses both where
SQLite takes them, so the broker checks them itself, before the platform is called wherever it can, and a
registration the platform accepted is never lost: its answer stays on the attempt with an outcome the admin
can act on. Which value is refused is tabled in the unit tests of the readers; here, that each column holds its
limit on the engine, and that a refusal is clear and recorded."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from broker.lti import DEPLOYMENT_ID
from broker.registration.models import Deployment, Registration, RegistrationAttempt
from broker.services import Services
from tests.conftest import RunningBroker, unique_slug
from tests.e2e.flow import register
from tests.e2e.launching import launch, registered
from tests.e2e.test_launch import LAUNCH_LOGGER, assert_refused
from tests.e2e.test_registration import TOOL_CONFIGURATION, attempts_of, registration_url, registrations_of
from tests.emulators import GenericEmulator


def column_length(model: type[Any], name: str) -> int:
    length = model.__table__.columns[name].type.length
    assert isinstance(length, int)
    return length


def filled(start: str, length: int) -> str:
    return start + "a" * (length - len(start))


def answer(client_id: str, deployment_id: str = "dep-1", **extra: Any) -> tuple[int, bytes, str]:
    document = {"client_id": client_id, TOOL_CONFIGURATION: {"deployment_id": deployment_id}, **extra}
    return 200, json.dumps(document).encode(), "application/json"


async def test_every_column_holds_a_platform_value_at_its_limit(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("long"), "Long Tool")
    with GenericEmulator.running() as platform:
        urls = {
            "issuer": filled(platform.issuer + "/", column_length(Registration, "issuer")),
            **{
                name: filled(f"{platform.base_url}/{name}?pad=", column_length(Registration, name))
                for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "authorization_server")
            },
            "registration_endpoint": filled(
                platform.registration_endpoint() + "?pad=", column_length(Registration, "registration_endpoint")
            ),
        }
        product = {
            "product_family_code": "p" * column_length(Registration, "product_family_code"),
            "version": "v" * column_length(Registration, "platform_version"),
        }
        client_id = "c" * column_length(Registration, "client_id")
        deployment_id = "d" * column_length(Deployment, "deployment_id")
        platform.set_knobs(
            config_patch=urls,
            platform_config_patch=product,
            registration_response=answer(client_id, deployment_id),
        )
        page = (await register(http, registration_url(broker, created), platform)).last_page
    assert page.status_code == 200, page.text
    (registration,) = await registrations_of(services, created)
    for name, value in urls.items():
        assert getattr(registration, name) == value
    assert registration.product_family_code == product["product_family_code"]
    assert registration.platform_version == product["version"]
    assert registration.client_id == client_id
    assert [d.deployment_id for d in registration.deployments] == [deployment_id]
    (attempt,) = await attempts_of(services, created)
    assert attempt.issuer == urls["issuer"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"config_patch": {"issuer": "{issuer}/\x00"}}, "issuer"),
        ({"config_patch": {"jwks_uri": "{issuer}/" + "a" * 2000}}, "jwks_uri"),
        ({"platform_config_patch": {"version": "v" * 201}}, "version"),
        ({"platform_config_patch": {"product_family_code": "moodle\x00"}}, "product_family_code"),
    ],
    ids=["issuer-nul", "jwks_uri-long", "version-long", "product_family_code-nul"],
)
async def test_a_configuration_value_the_database_cannot_hold_is_refused_before_the_platform_is_called(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, patch: dict[str, Any], field: str
) -> None:
    created = await services.tenants.create(unique_slug("long"), "Long Tool")
    with GenericEmulator.running() as platform:
        for knob, values in patch.items():
            platform.set_knobs(**{knob: {k: v.format(issuer=platform.issuer) for k, v in values.items()}})
        page = (await register(http, registration_url(broker, created), platform)).last_page
        assert platform.registration_requests == []
    assert page.status_code == 400, page.text
    assert field in page.text
    (attempt,) = await attempts_of(services, created)
    assert (attempt.status, attempt.error_code) == ("failed", "PlatformConfigurationRejected")
    assert await registrations_of(services, created) == []


@pytest.mark.parametrize(
    "url",
    ["https://lms.test/" + "a" * column_length(RegistrationAttempt, "openid_configuration_url"), "https://lms.test/\x00"],
    ids=["long", "nul"],
)
async def test_a_configuration_url_the_database_cannot_hold_is_a_clear_400(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, url: str
) -> None:
    created = await services.tenants.create(unique_slug("long"), "Long Tool")
    page = await http.get(registration_url(broker, created), params={"openid_configuration": url})
    assert page.status_code == 400, page.text
    assert "openid_configuration" in page.text


@pytest.mark.parametrize("client_id", ["c" * 256, "client\x00one"], ids=["long", "nul"])
async def test_an_accepted_registration_with_an_unusable_client_id_keeps_the_answer_and_says_what_to_do(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, client_id: str
) -> None:
    created = await services.tenants.create(unique_slug("long"), "Long Tool")
    with GenericEmulator.running(registration_response=answer(client_id)) as platform:
        page = (await register(http, registration_url(broker, created), platform)).last_page
    assert page.status_code == 502, page.text
    assert "client_id" in page.text and "remove it there" in page.text
    (attempt,) = await attempts_of(services, created)
    assert (attempt.status, attempt.error_code) == ("failed", "AnswerUnusableError")
    assert attempt.response_status == 200
    assert json.loads(attempt.response_body or "")["client_id"] == client_id
    assert attempt.id in page.text
    assert await registrations_of(services, created) == []


async def test_nul_characters_inside_an_accepted_answer_keep_the_registration(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("long"), "Long Tool")
    extra = {"client_name": "Quiz\x00Tool", "scope": "openid\x00 x", "logo_uri": "https://lms.test/\x00"}
    with GenericEmulator.running(registration_response=answer("client-1", "dep\x00one", **extra)) as platform:
        page = (await register(http, registration_url(broker, created), platform)).last_page
    assert page.status_code == 200, page.text
    (registration,) = await registrations_of(services, created)
    assert registration.registration_response["client_name"] == "Quiz\x00Tool"
    assert registration.deployments == []  # learnt at the first launch instead
    headers = {"Authorization": f"Bearer {created.api_key}"}
    listing = await http.get(broker.url("/api/v1/registration-attempts"), headers=headers)
    assert listing.status_code == 200, listing.text


@pytest.mark.parametrize("status", [200, 400])
async def test_raw_nul_bytes_in_a_platform_answer_are_kept_on_the_attempt(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, status: int
) -> None:
    created = await services.tenants.create(unique_slug("long"), "Long Tool")
    body = b'{"error": "bad\x00request"}'
    with GenericEmulator.running(registration_response=(status, body, "application/json")) as platform:
        page = (await register(http, registration_url(broker, created), platform)).last_page
    assert page.status_code == 502, page.text
    (attempt,) = await attempts_of(services, created)
    assert attempt.status == "failed" and attempt.response_status == status
    assert "request" in (attempt.response_body or "")
    if status == 400:
        assert "request" in (attempt.error_detail or "")


async def test_nul_characters_in_a_login_initiation_or_an_id_token_are_clear_refusals(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        for parameter in ("iss", "login_hint", "target_link_uri", "lti_deployment_id", "client_id"):
            started = setup.platform.login_initiation()
            params = {**started.params, parameter: started.params.get(parameter, "x") + "\x00"}
            login = await http.post(started.url, data=params)
            assert login.status_code == 400, (parameter, login.text)
            assert parameter in login.text
        for claim, value in [(DEPLOYMENT_ID, "dep\x00one"), (DEPLOYMENT_ID, "d" * 256), ("sub", "user\x00one")]:
            done = await launch(http, setup.platform, send_deployment_id=False, extra_claims={claim: value})
            assert done.relay is not None
            assert_refused(done.relay, 400, claim.rsplit("/", 1)[-1], caplog)


SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


@pytest.mark.parametrize(
    "answer",
    [
        {"access_token": "t", "token_type": "Bearer\x00", "expires_in": 3600},
        {"access_token": "t", "token_type": "Bearer", "expires_in": 3600, "scope": SCORE + "\x00"},
        {"access_token": "t\x00", "token_type": "Bearer", "expires_in": 3600},
    ],
    ids=["token_type", "scope", "access_token"],
)
async def test_a_token_answer_with_nul_characters_is_a_problem_json_502(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, answer: dict[str, Any]
) -> None:
    body = json.dumps(answer).encode()
    async with registered(http, broker, services, token_response=(200, body, "application/json")) as setup:
        granted = await http.post(
            broker.url(f"/api/v1/registrations/{setup.registration['id']}/token"),
            json={"scopes": [SCORE]},
            headers=setup.api_headers,
        )
    assert granted.status_code == 502, granted.text
    assert granted.headers["content-type"] == "application/problem+json"
    assert "control characters" in granted.json()["detail"]
