"""Registrations in the tenant console: a registration made by an emulated Moodle shows with its documents;
status changes and verification go through the API's services; another tenant's ids are not found."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import httpx

from broker.registration import attempts
from broker.registration.models import AttemptStatus, Registration, RegistrationAttempt
from broker.services import Services
from tests.admin_ui.conftest import Browser, Owner, signed_in_owner
from tests.broker.registration.test_attempts import stalled_attempt, store_nested_documents
from tests.conftest import RunningBroker
from tests.e2e.flow import posts_close_message, register
from tests.emulators import MoodleEmulator
from tests.smtp import Mailbox


async def registered(http: httpx.AsyncClient, broker: RunningBroker, owner: Owner, moodle: MoodleEmulator) -> None:
    outcome = await register(http, broker.url(f"/t/{owner.slug}/lti/register"), moodle)
    assert posts_close_message(outcome.last_page.text), outcome.last_page.text


async def registration_id(browser: Browser, owner: Owner) -> str:
    listing = await browser.get(f"/console/{owner.slug}/registrations")
    found = re.search(rf'href="/console/{owner.slug}/registrations/(reg_\w+)"', listing.text)
    assert found, listing.text
    return found.group(1)


async def test_a_registration_shows_with_its_attempt_and_changes_status(
    browser: Browser, mailbox: Mailbox, http: httpx.AsyncClient, console_broker: RunningBroker, services: Services
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    empty = await browser.get(f"/console/{owner.slug}/registrations")
    assert "No LMS has registered your tool yet" in empty.text
    with MoodleEmulator.running() as moodle:
        await registered(http, console_broker, owner, moodle)
        await _check_registration(browser, owner, services)


async def _check_registration(browser: Browser, owner: Owner, services: Services) -> None:
    listing = await browser.get(f"/console/{owner.slug}/registrations")
    assert listing.status_code == 200 and "moodle" in listing.text
    reg_id = await registration_id(browser, owner)
    page = await browser.get(f"/console/{owner.slug}/registrations/{reg_id}")
    assert page.status_code == 200
    assert '<dd id="status">active</dd>' in page.text
    assert "registration request" in page.text and "initiate_login_uri" in page.text
    assert "registration_token" not in page.text.replace("registration_token&#34;: &#34;[redacted]", "")

    disabled = await browser.post(f"/console/{owner.slug}/registrations/{reg_id}/disable", {})
    assert disabled.status_code == 303
    item = (await services.tenants.get_by_slug(owner.slug)) and await _status(services, reg_id)
    assert item == "disabled"
    refused = await browser.post(f"/console/{owner.slug}/registrations/{reg_id}/activate", {})
    assert refused.status_code == 409 and "enable it instead" in refused.text
    assert (await browser.post(f"/console/{owner.slug}/registrations/{reg_id}/enable", {})).status_code == 303
    assert await _status(services, reg_id) == "active"
    unknown = await browser.post(f"/console/{owner.slug}/registrations/{reg_id}/delete", {})
    assert unknown.status_code == 404

    verified = await browser.post(f"/console/{owner.slug}/registrations/{reg_id}/verify", {})
    assert verified.status_code == 200 and "Verified:" in verified.text, verified.text
    assert 'id="verified-at">not yet<' not in verified.text

    attempts = await browser.get(f"/console/{owner.slug}/attempts")
    assert attempts.status_code == 200 and "succeeded" in attempts.text
    attempt_id = re.search(rf'/console/{owner.slug}/attempts/(att_\w+)"', attempts.text)
    assert attempt_id
    detail = await browser.get(f"/console/{owner.slug}/attempts/{attempt_id.group(1)}")
    assert detail.status_code == 200 and "Documents exchanged" in detail.text


async def test_another_tenants_registration_is_not_found_and_not_changed(
    browser: Browser, browser_factory: Callable[[], Browser], mailbox: Mailbox, http: httpx.AsyncClient,
    console_broker: RunningBroker, services: Services,
) -> None:  # fmt: skip
    victim = await signed_in_owner(browser, mailbox)
    with MoodleEmulator.running() as moodle:
        await registered(http, console_broker, victim, moodle)
    reg_id = await registration_id(browser, victim)
    attacker_browser = browser_factory()
    attacker = await signed_in_owner(attacker_browser, mailbox)
    for path in (f"/console/{attacker.slug}/registrations/{reg_id}", f"/console/{victim.slug}/registrations/{reg_id}"):
        page = await attacker_browser.get(path)
        assert page.status_code == 404 and victim.name not in page.text.replace(attacker.name, "")
    for slug in (attacker.slug, victim.slug):
        answer = await attacker_browser.post(f"/console/{slug}/registrations/{reg_id}/disable", {})
        assert answer.status_code == 404
    assert await _status(services, reg_id) == "active"


async def _status(services: Services, registration_id: str) -> str:

    async with services.database.session() as session:
        row = await session.get(Registration, registration_id)
    assert row is not None
    return row.status


async def test_what_a_platform_sent_is_escaped_on_every_console_page(
    browser: Browser, mailbox: Mailbox, services: Services
) -> None:
    from broker.registration.models import Deployment

    payload = '<img src=x onerror="alert(1)">'
    owner = await signed_in_owner(browser, mailbox)
    tenant = await services.tenants.get_by_slug(owner.slug)
    assert tenant is not None
    async with services.database.transaction() as session:
        registration = Registration(
            tenant_id=tenant.id, issuer=f"https://lms.example/{payload}", client_id=payload, status="active",
            product_family_code=payload, platform_version=payload, jwks_uri="https://lms.example/jwks",
            registration_endpoint="https://lms.example/register", scopes_requested=[payload],
            registration_request={"client_name": payload},
            deployments=[Deployment(deployment_id=payload, source="registration")],
        )  # fmt: skip
        session.add(registration)
        await session.flush()
        session.add(
            RegistrationAttempt(
                tenant_id=tenant.id, status="failed", openid_configuration_url=f"https://lms.example/{payload}",
                issuer=payload, error_code="platform_refused", error_detail=payload, registration_id=registration.id,
                response_body=payload,
            )
        )  # fmt: skip
        registration_id = registration.id
    for path in ("registrations", f"registrations/{registration_id}", "attempts"):
        page = await browser.get(f"/console/{owner.slug}/{path}")
        assert page.status_code == 200, path
        assert payload not in page.text and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text, path


async def test_an_attempt_cut_off_mid_flight_shows_as_interrupted_with_what_to_do(
    browser: Browser, mailbox: Mailbox, console_broker: RunningBroker, services: Services
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    tenant = await services.tenants.get_by_slug(owner.slug)
    assert tenant is not None
    idle = attempts.STALLED_AFTER + timedelta(minutes=1)
    attempt_id = await stalled_attempt(services, tenant.id, AttemptStatus.FETCHING, idle=idle)
    await attempts.interrupt_stalled(services.database)

    listing = await browser.get(f"/console/{owner.slug}/attempts")
    row = listing.text.split(attempt_id)[-1].split("</tr>")[0]
    assert "interrupted" in row and "start the registration again" in row
    page = await browser.get(f"/console/{owner.slug}/attempts/{attempt_id}")
    outcome = page.text.split('id="outcome"')[1].split("</section>")[0]
    assert "interrupted" in outcome and "start the registration again" in outcome, "the attempt's page says what to do"


async def test_a_deeply_nested_stored_document_never_breaks_the_console(
    browser: Browser, mailbox: Mailbox, http: httpx.AsyncClient, console_broker: RunningBroker, services: Services
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    with MoodleEmulator.running() as moodle:
        await registered(http, console_broker, owner, moodle)
    reg_id = await registration_id(browser, owner)
    await store_nested_documents(services, reg_id)

    listing = await browser.get(f"/console/{owner.slug}/attempts")
    assert listing.status_code == 200, listing.text
    attempt_id = re.search(rf'/console/{owner.slug}/attempts/(att_\w+)"', listing.text)
    assert attempt_id
    for path in (f"attempts/{attempt_id.group(1)}", f"registrations/{reg_id}", "registrations"):
        page = await browser.get(f"/console/{owner.slug}/{path}")
        assert page.status_code == 200, (path, page.text)
