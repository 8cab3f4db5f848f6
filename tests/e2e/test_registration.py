"""Dynamic Registration end to end: a real broker over loopback HTTP, against platform emulators."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import select, text

from broker.registration.models import Registration, RegistrationAttempt
from broker.registration.representation import registration_item
from broker.services import Services
from broker.webhooks.models import OutboxEvent
from tenants.key_pool import KeyPool
from tenants.models import SpareSigningKey
from tenants.services import CreatedTenant
from tests.broker.http_client.support import eventually
from tests.conftest import SHORT_OUTBOUND_TIMEOUT, RunningBroker, unique_slug
from tests.e2e.flow import forms_of, posts_close_message, register, submit_defaults
from tests.emulators import REMOVE, GenericEmulator, MoodleEmulator

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"


def registration_url(broker: RunningBroker, tenant: CreatedTenant) -> str:
    return broker.url(f"/t/{tenant.tenant.slug}/lti/register")


async def attempts_of(services: Services, tenant: CreatedTenant) -> list[RegistrationAttempt]:
    async with services.database.session() as session:
        query = select(RegistrationAttempt).where(RegistrationAttempt.tenant_id == tenant.tenant.id)
        return list((await session.scalars(query.order_by(RegistrationAttempt.id))).all())


async def registrations_of(services: Services, tenant: CreatedTenant) -> list[Registration]:
    async with services.database.session() as session:
        query = select(Registration).where(Registration.tenant_id == tenant.tenant.id)
        return list((await session.scalars(query)).all())


async def test_full_registration_with_a_token_shows_up_in_the_api(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    with GenericEmulator.running(create_deployment=True) as platform:
        outcome = await register(http, registration_url(broker, tenant), platform)
        review = outcome.first_page
        assert review.status_code == 200 and "generic" in review.text
        assert not posts_close_message(review.text), "the review page must not close the window"
        done = outcome.last_page
        assert done.status_code == 200, done.text
        assert posts_close_message(done.text)
        (stored,) = platform.registrations
        token = platform.configuration_requests[0].authorization
        assert token and token.startswith("Bearer ")
        assert platform.registration_requests[0].authorization == token
        assert token.removeprefix("Bearer ") not in done.text + review.text

    assert stored["client_name"] == "Acme Quiz"
    assert stored[TOOL_CONFIGURATION]["domain"] == broker.base_url.removeprefix("http://")
    assert stored["client_id"] in done.text

    listing = await http.get(broker.url("/api/v1/registrations"), headers={"Authorization": f"Bearer {tenant.api_key}"})
    (item,) = listing.json()["items"]
    assert item["issuer"] == platform.issuer and item["client_id"] == stored["client_id"]
    assert item["deployment_ids"] and item["deployment_ids"][0] in done.text
    assert item["product_family_code"] == "generic" and item["status"] == "active"
    (attempt,) = await attempts_of(services, tenant)
    assert attempt.status == "succeeded" and attempt.registration_id == item["id"]
    assert token.removeprefix("Bearer ") not in attempt.openid_configuration_url


async def test_registration_without_a_token_sends_no_authorization_header(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    with GenericEmulator.running(sends_registration_token=False) as platform:
        outcome = await register(http, registration_url(broker, tenant), platform)
        assert outcome.last_page.status_code == 200, outcome.last_page.text
        assert platform.registration_requests[0].authorization is None
        assert platform.configuration_requests[0].authorization is None
    assert len(await registrations_of(services, tenant)) == 1


async def test_one_click_registration_when_the_tenant_turned_review_off(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("oneclick"), "One Click")
    async with services.database.transaction() as session:
        tenant = await session.get(type(created.tenant), created.tenant.id)
        tenant.review_registrations = False  # type: ignore[union-attr]
    with MoodleEmulator.running() as platform:
        page = await http.get(platform.initiation_url(registration_url(broker, created)))
        assert page.status_code == 200, page.text
        # No review form: the only form left is the confirmation page's Verify button.
        assert posts_close_message(page.text) and [form.action[-7:] for form in forms_of(page.text)] == ["/verify"]
        assert len(platform.registrations) == 1


async def published_kids(http: httpx.AsyncClient, jwks_uri: str) -> list[str]:
    answer = await http.get(jwks_uri)
    assert answer.status_code == 200, answer.text
    return [key["kid"] for key in answer.json()["keys"]]


async def spare_kids(services: Services) -> set[str]:
    async with services.database.session() as session:
        return set((await session.scalars(select(SpareSigningKey.kid))).all())


@pytest.mark.parametrize("spare", [True, False], ids=["spare-key", "empty-pool"])
async def test_a_new_platform_gets_a_key_of_its_own_before_it_is_sent_the_registration(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant, spare: bool
) -> None:
    """The key is bound by the write that puts the submission on record: a spare one when the pool has one
    (taken from it once), else one made then; either way the key set the request names publishes it."""
    pool = KeyPool(services.database, services.secret_box, size=len(await spare_kids(services)) + 1)
    if spare:
        await pool.refill()
    else:
        while await spare_kids(services):
            await pool.take()
    spares = await spare_kids(services)
    with GenericEmulator.running() as platform:
        outcome = await register(http, registration_url(broker, tenant), platform)
        assert outcome.last_page.status_code == 200, outcome.last_page.text
        (stored,) = platform.registrations
    (kid,) = await published_kids(http, stored["jwks_uri"])
    left = await spare_kids(services)
    if spare:
        assert kid in spares and left == spares - {kid}, "one spare key bound, and taken from the pool"
    else:
        assert kid not in spares and left == spares


async def test_double_submitted_review_form_registers_once(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    with GenericEmulator.running() as platform:
        review = await http.get(platform.initiation_url(registration_url(broker, tenant)))
        form = forms_of(review.text)[0]
        first = await http.post(str(review.url), data=form.fields)
        second = await http.post(str(review.url), data=form.fields)
        assert first.status_code == 200 and second.status_code == 409
        assert "already submitted" in second.text and not posts_close_message(second.text)
        assert len(platform.registration_requests) == 1
    assert len(await registrations_of(services, tenant)) == 1


async def test_while_the_platform_answers_the_attempt_is_on_record_as_submitting_with_its_request(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    """What a restart in the middle of the platform's call leaves behind: the attempt marked submitting (so it is
    later marked interrupted, with what to do) with the request that was sent, and a spent form."""
    with GenericEmulator.running(registration_delay=1.0) as platform:
        review = await http.get(platform.initiation_url(registration_url(broker, tenant)))
        form = forms_of(review.text)[0]
        submitted = asyncio.create_task(http.post(str(review.url), data=form.fields))
        await eventually(lambda: bool(platform.registration_requests))
        (attempt,) = await attempts_of(services, tenant)
        assert attempt.status == "submitting" and attempt.response_status is None
        assert attempt.registration_request == platform.registration_requests[0].json
        again = await http.post(str(review.url), data=form.fields)
        assert again.status_code == 409 and "already submitted" in again.text
        assert (await submitted).status_code == 200
    (attempt,) = await attempts_of(services, tenant)
    assert attempt.status == "succeeded" and attempt.response_status == 201


async def test_same_issuer_and_client_again_updates_and_adds_deployments(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    answer = {"client_id": "fixed-client", TOOL_CONFIGURATION: {"deployment_id": "dep-1"}}
    with GenericEmulator.running(
        registration_response=(200, json.dumps(answer).encode(), "application/json")
    ) as platform:
        assert (await register(http, registration_url(broker, tenant), platform)).last_page.status_code == 200
        answer[TOOL_CONFIGURATION]["deployment_id"] = "dep-2"
        platform.registration_response = (200, json.dumps(answer).encode(), "application/json")
        page = (await register(http, registration_url(broker, tenant), platform)).last_page
    assert page.status_code == 200
    (registration,) = await registrations_of(services, tenant)
    assert registration.client_id == "fixed-client"
    assert [d.deployment_id for d in registration.deployments] == ["dep-1", "dep-2"]
    # The confirmation page lists the deployment it had and the one this answer added.
    assert "dep-1" in page.text and "dep-2" in page.text


async def test_flows_answered_with_one_client_at_once_store_one_registration_and_number_its_events(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    """Flows whose stores race for one new (issuer, client_id): one inserts it, and each other one, refused by
    the unique index when it inserted too (another process stored the client first), tries again and updates."""
    flows = 4
    answer = {"client_id": "raced-client", TOOL_CONFIGURATION: {"deployment_id": "dep-1"}}
    with GenericEmulator.running(
        registration_response=(200, json.dumps(answer).encode(), "application/json")
    ) as platform:
        outcomes = await asyncio.gather(
            *(register(http, registration_url(broker, tenant), platform) for _ in range(flows))
        )
    assert [outcome.last_page.status_code for outcome in outcomes] == [200] * flows
    (registration,) = await registrations_of(services, tenant)
    assert [d.deployment_id for d in registration.deployments] == ["dep-1"]
    attempts = await attempts_of(services, tenant)
    assert {(attempt.status, attempt.registration_id) for attempt in attempts} == {("succeeded", registration.id)}
    async with services.database.session() as session:
        query = select(OutboxEvent).where(OutboxEvent.tenant_id == tenant.tenant.id).order_by(OutboxEvent.sequence)
        events = list((await session.scalars(query)).all())
    assert [event.sequence for event in events] == list(range(1, flows + 2))
    assert [event.type for event in events[:2]] == ["registration.created", "deployment.created"]
    assert [event.type for event in events[2:]] == ["registration.updated"] * (flows - 1)
    assert events[-1].payload["data"] == registration_item(registration)


async def test_unknown_tenant_is_a_404_page(http: httpx.AsyncClient, broker: RunningBroker) -> None:
    response = await http.get(broker.url("/t/no-such-tool/lti/register?openid_configuration=https://lms.example/c"))
    assert response.status_code == 404 and "No such tool" in response.text


@pytest.mark.parametrize("query", ["", "?openid_configuration=", "?openid_configuration=/relative/config"])
async def test_missing_or_relative_configuration_url_is_a_400_page(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant, query: str
) -> None:
    response = await http.get(registration_url(broker, tenant) + query)
    assert response.status_code == 400
    assert "openid_configuration" in response.text and not posts_close_message(response.text)


@pytest.mark.parametrize(
    "configuration_url",
    [
        "http://lms.example.com/config",  # not https
        "https://127.0.0.1:{port}/config",  # loopback
        "https://10.1.2.3/config",  # private
        "https://169.254.169.254/latest/meta-data",  # link-local cloud metadata
        "https://[::1]:{port}/config",  # IPv6 loopback
    ],
)
async def test_unsafe_configuration_urls_are_refused_before_any_request(
    http: httpx.AsyncClient, strict_broker: RunningBroker, services: Services, configuration_url: str
) -> None:
    created = await services.tenants.create(unique_slug("strict"), "Strict")
    with GenericEmulator.running() as platform:
        url = configuration_url.format(port=platform.base_url.rsplit(":", 1)[1])
        response = await http.get(
            strict_broker.url(f"/t/{created.tenant.slug}/lti/register"), params={"openid_configuration": url}
        )
        assert response.status_code == 400, response.text
        assert "refused" in response.text
        assert platform.requests == []
    (attempt,) = await attempts_of(services, created)
    assert attempt.status == "failed"
    assert await registrations_of(services, created) == []


FAILURES = [
    pytest.param({"config_patch": {"issuer": "http://issuer.elsewhere.example"}}, 400, "issuer", id="issuer-mismatch"),
    pytest.param({"config_patch": {"jwks_uri": REMOVE}}, 400, "jwks_uri", id="required-field-missing"),
    pytest.param({"config_response": (200, b"<html>hello</html>", "text/html")}, 502, "not JSON", id="non-json"),
    pytest.param(
        {"config_response": (200, b'{"a":"' + b"x" * 1_200_000 + b'"}', "application/json")}, 502, "larger", id="huge"
    ),
    pytest.param(
        {
            "registration_response": (
                400,
                b'{"error":"invalid_client_metadata","error_description":"domain <b>bad</b>"}',
                "application/json",
            )
        },
        502,
        "domain &lt;b&gt;bad&lt;/b&gt;",
        id="rfc7591",
    ),
    pytest.param(
        {"registration_response": (401, b"token_already_used", "text/plain")},
        502,
        "start the registration again",
        id="401",
    ),
    pytest.param({"registration_response": (500, b"<h1>Oops</h1>", "text/html")}, 502, "&lt;h1&gt;Oops", id="500"),
    pytest.param({"registration_response": (200, b"not json", "text/plain")}, 502, "not JSON", id="non-json-answer"),
]


@pytest.mark.parametrize(("knobs", "status", "shown"), FAILURES)
async def test_failures_answer_a_clear_page_record_the_attempt_and_store_nothing(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, knobs: dict, status: int, shown: str
) -> None:
    await _assert_failure_is_recorded(http, broker, services, knobs, status, shown)


# The platform answers after the broker stopped waiting (impatient_broker waits SHORT_OUTBOUND_TIMEOUT).
LATE = SHORT_OUTBOUND_TIMEOUT + 1.0


@pytest.mark.parametrize(
    "knobs", [{"config_delay": LATE}, {"registration_delay": LATE}], ids=["configuration", "registration"]
)
async def test_a_platform_that_answers_too_late_gets_a_timeout_page_and_nothing_is_stored(
    http: httpx.AsyncClient, impatient_broker: RunningBroker, services: Services, knobs: dict
) -> None:
    await _assert_failure_is_recorded(http, impatient_broker, services, knobs, 504, "did not answer in time")


async def _assert_failure_is_recorded(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, knobs: dict, status: int, shown: str
) -> None:
    created = await services.tenants.create(unique_slug("fail"), "Failing Tool")
    with GenericEmulator.running(**knobs) as platform:
        outcome = await register(http, registration_url(broker, created), platform)
    page = outcome.last_page
    assert page.status_code == status, page.text
    assert shown.lower() in page.text.lower()
    assert "<b>bad</b>" not in page.text and "<h1>Oops" not in page.text
    assert not posts_close_message(page.text)
    attempts = await attempts_of(services, created)
    assert [attempt.status for attempt in attempts] == ["failed"]
    assert attempts[0].id in page.text, "the page shows the attempt's reference"
    assert await registrations_of(services, created) == []


async def test_platform_supplied_html_is_escaped_on_the_review_page(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    evil = '<script>alert("x")</script>'
    with GenericEmulator.running(platform_config_patch={"product_family_code": evil, "version": evil}) as platform:
        page = await http.get(platform.initiation_url(registration_url(broker, tenant)))
    assert page.status_code == 200
    assert evil not in page.text and "&lt;script&gt;" in page.text
    assert "script-src 'none'" in page.headers["content-security-policy"]


async def test_platform_supplied_html_is_escaped_on_the_confirmation_page(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    evil = '<script>alert("x")</script>'
    answer = {"client_id": evil, TOOL_CONFIGURATION: {"deployment_id": evil}}
    with GenericEmulator.running(
        platform_config_patch={"product_family_code": evil, "version": evil},
        registration_response=(200, json.dumps(answer).encode(), "application/json"),
    ) as platform:
        page = (await register(http, registration_url(broker, tenant), platform)).last_page
    assert page.status_code == 200, page.text
    assert evil not in page.text and page.text.count("&lt;script&gt;") >= 4


async def test_expired_or_altered_review_form_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    response = await http.post(registration_url(broker, tenant), data={"state": "forged"})
    assert response.status_code == 400 and "expired" in response.text


async def test_submitting_defaults_on_a_failed_page_stops(http: httpx.AsyncClient, broker: RunningBroker) -> None:
    page = await http.get(broker.url("/t/no-such-tool/lti/register"))
    assert (await submit_defaults(http, page)).status_code == 404


SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS refuse_doomed BEFORE INSERT ON registrations
WHEN NEW.client_id LIKE 'doomed-%' BEGIN SELECT RAISE(ABORT, 'storage unavailable (test)'); END
"""
POSTGRES_TRIGGER = [
    """CREATE OR REPLACE FUNCTION refuse_doomed() RETURNS trigger AS $$ BEGIN
       IF NEW.client_id LIKE 'doomed-%' THEN RAISE EXCEPTION 'storage unavailable (test)'; END IF;
       RETURN NEW; END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS refuse_doomed ON registrations",
    "CREATE TRIGGER refuse_doomed BEFORE INSERT ON registrations FOR EACH ROW EXECUTE FUNCTION refuse_doomed()",
]


async def test_storage_failure_after_the_platform_accepted_keeps_its_answer_and_tells_the_admin(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    async with services.database.transaction() as session:
        statements = [SQLITE_TRIGGER] if services.database.is_sqlite else POSTGRES_TRIGGER
        for statement in statements:
            await session.execute(text(statement))
    answer = {"client_id": f"doomed-{tenant.tenant.slug}", TOOL_CONFIGURATION: {"deployment_id": "dep-9"}}
    with GenericEmulator.running(registration_response=(200, json.dumps(answer).encode(), "application/json")) as lms:
        page = (await register(http, registration_url(broker, tenant), lms)).last_page
    assert page.status_code == 503
    assert "Do not register again" in page.text and answer["client_id"] in page.text
    assert not posts_close_message(page.text)
    (attempt,) = await attempts_of(services, tenant)
    assert attempt.status == "failed" and attempt.error_code == "storage_failed"
    assert attempt.response_status == 200 and answer["client_id"] in (attempt.response_body or "")
    assert attempt.id in page.text
    assert await registrations_of(services, tenant) == []


@pytest.mark.parametrize(
    ("settings", "closes_at_once"),
    [
        ({}, False),  # the Verify button
        ({"tool_configuration": {"scopes": []}}, True),
        ({"tool_configuration": {"scopes": []}, "activation_policy": "pending"}, False),  # the pending note
    ],
)
async def test_the_confirmation_closes_the_lms_dialog_at_once_only_with_nothing_to_read(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, settings: dict, closes_at_once: bool
) -> None:
    created = await services.tenants.create(unique_slug("done"), "Done Quiz")
    if settings:
        await services.tenants.update(created.tenant.id, settings)
    with MoodleEmulator.running() as platform:
        done = (await register(http, registration_url(broker, created), platform)).last_page
    assert done.status_code == 200, done.text
    assert f'data-close-on-load="{str(closes_at_once).lower()}"' in done.text
    assert ">Done</button>" in done.text and "you can close it now" in done.text


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        # More fields than any form holds, and a field over 1 MiB.
        ("&".join(f"f{number}=1" for number in range(1001)).encode(), "application/x-www-form-urlencoded"),
        (b"state=" + b"a" * (1024 * 1024 + 1), "application/x-www-form-urlencoded"),
    ],
)
@pytest.mark.parametrize("form", ["review", "verify"])
async def test_a_form_body_that_cannot_be_read_gets_a_400_page(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant, body: bytes, content_type: str, form: str
) -> None:
    """The review form and the confirmation page's Verify form."""
    url = registration_url(broker, tenant) + ("/verify" if form == "verify" else "")
    response = await http.post(url, content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "The form could not be read" in response.text
    assert "frame-ancestors https:" in response.headers["content-security-policy"]  # in the LMS's frame, as every step
