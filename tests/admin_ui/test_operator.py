"""The operator console: operator accounts only; the development mail outbox shows what was not sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import pytest

from admin_ui.operator import RECENT_FAILURES
from broker.registration import attempts
from broker.registration.models import AttemptStatus, RegistrationAttempt
from broker.services import Services
from tenants.services import CreatedTenant
from tests.admin_ui.conftest import CSRF_COOKIE, PASSWORD, Browser, signed_in_owner, unique_email
from tests.broker.registration.test_attempts import stalled_attempt
from tests.conftest import RunningBroker, unique_slug
from tests.smtp import Mailbox


@pytest.fixture
def dev_browser(broker: RunningBroker) -> Iterator[Browser]:
    """A client of the broker without BROKER_SMTP_URL: it keeps mail in its development outbox."""
    yield Browser(httpx.AsyncClient(timeout=20), broker)


async def test_operators_read_the_development_outbox(dev_browser: Browser, services: Services) -> None:
    operator = unique_email("op")
    await services.accounts.create_operator(operator, PASSWORD)
    vendor = unique_email()
    slug = unique_slug("dev")
    signed_up = await dev_browser.post(
        "/signup", {"name": "Dev Tool", "slug": slug, "email": vendor, "password": PASSWORD}
    )
    assert signed_up.status_code == 200 and "could not be sent" not in signed_up.text

    assert (await dev_browser.post("/admin/login", {"email": vendor, "password": PASSWORD})).status_code == 401
    signed_in = await dev_browser.post("/admin/login", {"email": operator, "password": PASSWORD})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/"
    outbox = await dev_browser.get("/admin/mail")
    assert outbox.status_code == 200 and vendor in outbox.text and "/verify-email?token=" in outbox.text
    await dev_browser.client.aclose()


async def test_vendors_cannot_open_the_operator_console(
    browser_factory: Callable[[], Browser], services: Services
) -> None:
    visitor = browser_factory()
    page = await visitor.get("/admin/mail")
    assert page.status_code == 303 and "/admin/login?next=" in page.headers["location"]
    assert CSRF_COOKIE not in visitor.client.cookies


async def test_an_operator_suspends_and_resumes_a_tenant_and_nothing_is_deleted(
    browser: Browser, mailbox: Mailbox, services: Services, http: httpx.AsyncClient
) -> None:
    owner = await signed_in_owner(browser, mailbox, name="<i>Suspect</i> Tool")
    failed = await http.get(
        browser.broker.url(f"/t/{owner.slug}/lti/register?openid_configuration=http://127.0.0.1:9/nothing-here")
    )
    assert failed.status_code >= 400
    operator = Browser(httpx.AsyncClient(timeout=20), browser.broker)
    email = unique_email("op")
    await services.accounts.create_operator(email, PASSWORD)
    assert (await operator.post("/admin/login", {"email": email, "password": PASSWORD})).status_code == 303

    found = await operator.get("/admin/?q=suspect")
    assert found.status_code == 200 and owner.slug in found.text and "<i>Suspect</i>" not in found.text
    assert "deliveries pending" in found.text
    front = await operator.get("/admin/")
    assert f"<code>{owner.slug}</code></td><td>" in front.text.split("Recent failed registration attempts")[1]

    assert (await operator.post(f"/admin/tenants/{owner.slug}/suspend", {})).status_code == 303
    bearer = {"Authorization": f"Bearer {owner.api_key}"}
    api = await http.get(browser.broker.url("/api/v1/registrations"), headers=bearer)
    assert api.status_code == 403 and api.json()["title"] == "Tenant suspended"
    register = await http.get(
        browser.broker.url(f"/t/{owner.slug}/lti/register?openid_configuration=https://lms.example/x")
    )
    assert register.status_code == 403 and "This tool is suspended" in register.text
    launch = await http.get(browser.broker.url(f"/t/{owner.slug}/lti/login?iss=https://lms.example&login_hint=x"))
    assert launch.status_code == 403 and "This tool is suspended" in launch.text
    assert "suspended since" in (await operator.get(f"/admin/?q={owner.slug}")).text
    assert (await browser.get(f"/console/{owner.slug}/")).status_code == 200, "the vendor still sees its console"

    assert (await operator.post(f"/admin/tenants/{owner.slug}/resume", {})).status_code == 303
    api = await http.get(browser.broker.url("/api/v1/registrations"), headers=bearer)
    assert api.status_code == 200
    audit = await browser.get(f"/console/{owner.slug}/audit")
    assert "tenant.suspended" in audit.text and "tenant.resumed" in audit.text
    await operator.client.aclose()


async def test_only_operators_suspend(browser: Browser, mailbox: Mailbox) -> None:
    owner = await signed_in_owner(browser, mailbox)
    answer = await browser.post(f"/admin/tenants/{owner.slug}/suspend", {})
    assert answer.status_code == 303 and "/admin/login" in answer.headers["location"]


async def test_the_operator_sees_registration_conflicts_among_the_failures(
    dev_browser: Browser, services: Services, tenant: CreatedTenant
) -> None:
    async with services.database.transaction() as session:
        session.add(
            RegistrationAttempt(
                tenant_id=tenant.tenant.id, status="conflict", openid_configuration_url="https://lms.example/conf",
                issuer="https://lms.example", error_code="RegistrationConflictError",
                error_detail="Your LMS answered with client_id 'abc', which belongs to another tool",
            )
        )  # fmt: skip
    email = unique_email("op")
    await services.accounts.create_operator(email, PASSWORD)
    assert (await dev_browser.post("/admin/login", {"email": email, "password": PASSWORD})).status_code == 303
    failures = (await dev_browser.get("/admin/")).text.split("Recent failed registration attempts")[1]
    assert f"<code>{tenant.tenant.slug}</code>" in failures and "RegistrationConflictError" in failures
    await dev_browser.client.aclose()


async def test_the_operator_sees_interrupted_registrations_with_what_to_do(
    dev_browser: Browser, services: Services, tenant: CreatedTenant
) -> None:
    """An attempt a restart cut off started long before it is marked interrupted: the list goes by when each
    attempt failed, so the failures of every attempt started since (more than a page) do not hide it."""
    idle = attempts.STALLED_AFTER + timedelta(minutes=1)
    attempt_id = await stalled_attempt(services, tenant.tenant.id, AttemptStatus.SUBMITTING, idle=idle)
    await failed_attempts(services, tenant.tenant.id, RECENT_FAILURES + 1)
    assert await attempts.interrupt_stalled(services.database) >= 1
    email = unique_email("op")
    await services.accounts.create_operator(email, PASSWORD)
    assert (await dev_browser.post("/admin/login", {"email": email, "password": PASSWORD})).status_code == 303
    failures = (await dev_browser.get("/admin/")).text.split("Recent failed registration attempts")[1]
    assert f"<code>{attempt_id}</code>" in failures, "the attempt that failed last comes first"
    row = failures.split(f"<code>{attempt_id}</code>")[1].split("</tr>")[0]
    assert f"<code>{tenant.tenant.slug}</code>" in row and "interrupted" in row and "None" not in row
    assert "Check the LMS&#39;s tool list" in row, "the row says what to do"
    await dev_browser.client.aclose()


async def failed_attempts(services: Services, tenant_id: str, count: int) -> None:
    """`count` attempts started and failed now, as a platform refusing them leaves them."""
    async with services.database.transaction() as session:
        session.add_all(
            RegistrationAttempt(
                tenant_id=tenant_id, status=AttemptStatus.FAILED, error_code="PlatformRefusedError",
                openid_configuration_url="https://lms.example.edu/.well-known/openid-configuration",
            )
            for _ in range(count)
        )  # fmt: skip
