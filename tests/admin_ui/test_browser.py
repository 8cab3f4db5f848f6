"""The consoles in Chromium (Playwright): a vendor signs up, confirms the address from a mail received by a real
SMTP server, signs in, copies the registration URL and invites a colleague; an operator signs in. Each page is
checked with axe (no serious or critical violations) and saved as a screenshot in tests/screenshots/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import quote

import pytest_asyncio
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Locator, Page

from broker.registration.models import RegistrationAttempt
from broker.services import Services
from broker.stored_text import URL_LENGTH
from tests.admin_ui.conftest import PASSWORD, signed_in_owner, unique_email
from tests.admin_ui.conftest import Browser as HttpBrowser
from tests.conftest import RunningBroker, unique_slug
from tests.e2e.test_browser import close_message, lms_origin
from tests.emulators import MoodleEmulator
from tests.smtp import Mailbox, link_in

__all__ = ["lms_origin"]

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
SERIOUS = {"serious", "critical"}
_axe = Axe()


@pytest_asyncio.fixture(loop_scope="session")
async def context(chromium: Browser, console_broker: RunningBroker) -> AsyncIterator[BrowserContext]:
    context = await chromium.new_context(base_url=console_broker.base_url)
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console_broker.base_url)
    yield context
    await context.close()


async def follow(page: Page, link: Locator, path: str) -> None:
    """Click a link and wait for the page at `path`: a click returns before the navigation it starts has ended, so
    a check made at once could run on the page being left, or on a document being torn down."""
    await link.click()
    await page.wait_for_url(f"**{path}")


async def check_page(page: Page, name: str) -> None:
    """No serious or critical accessibility violation, once the page and its frames have loaded; the page saved
    as a screenshot."""
    await page.wait_for_load_state("load")
    results = await _axe.run(page)
    serious = [
        f"{violation['id']} ({violation['impact']}): {violation['help']}"
        for violation in results.response["violations"]
        if violation["impact"] in SERIOUS
    ]
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    assert not serious, f"{name}: {serious}"


def watch_csp(page: Page) -> list[str]:
    """Messages of the page's console about the Content-Security-Policy (a blocked script or style)."""
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security" in message.text else None)
    return blocked


async def test_a_vendor_signs_up_confirms_signs_in_copies_the_url_and_invites(
    context: BrowserContext, console_broker: RunningBroker, mailbox: Mailbox
) -> None:
    page = await context.new_page()
    blocked = watch_csp(page)
    await page.goto("/")
    await check_page(page, "front")

    await page.get_by_role("link", name="Sign up: create your tool's tenant").click()
    email, slug = unique_email(), unique_slug("web")
    await page.get_by_label("Tool name").fill("Acme <Quiz>")
    await page.get_by_label("Tenant address").fill("admin")
    await page.get_by_label("Your e-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create the tenant").click()
    await page.locator("#slug-error").wait_for()
    assert "reserved" in (await page.locator("#slug-error").text_content() or "")
    await check_page(page, "signup-errors")
    await page.get_by_label("Tenant address").fill(slug)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create the tenant").click()
    await page.get_by_role("heading", name="Check your inbox").wait_for()
    assert (await page.locator("#api-key").text_content() or "").startswith("lbk_")
    await check_page(page, "signup-done")

    link = link_in(await mailbox.async_wait_for(email, "Confirm"), "/verify-email")
    await page.goto(link)
    await check_page(page, "verify-email")
    await page.get_by_role("button", name="Confirm my address").click()
    await page.get_by_role("heading", name="Your e-mail address is confirmed").wait_for()

    await follow(page, page.get_by_role("link", name="Sign in").first, "/login")
    await check_page(page, "sign-in")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"**/console/{slug}/")
    await check_page(page, "console-overview")
    assert await page.get_by_role("heading", name="Acme <Quiz>", level=1).is_visible()

    registration_url = console_broker.url(f"/t/{slug}/lti/register")
    assert await page.locator("#registration-url").input_value() == registration_url
    await page.get_by_role("button", name="Copy").click()
    await page.locator("#registration-url-status").filter(has_text="Copied.").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == registration_url
    await page.get_by_label("Host name", exact=True).fill("lti_acme.example.com")
    await page.get_by_role("button", name="Save the host name").click()
    await page.locator("#hostname-error").wait_for()
    await check_page(page, "console-hostname-error")

    await page.get_by_role("link", name="Members").click()
    colleague = unique_email("bob")
    await page.get_by_label("Their e-mail address").fill(colleague)
    await page.get_by_label("Role").select_option("member")
    await page.get_by_role("button", name="Send the invitation").click()
    await page.locator("#message").filter(has_text=colleague).wait_for()
    await check_page(page, "console-members")
    assert "/invitations/accept" in link_in(await mailbox.async_wait_for(colleague, "invited"), "/invitations/accept")

    await follow(page, page.get_by_role("link", name="Your account"), "/account")
    await check_page(page, "account")
    await page.get_by_role("button", name=f"Sign out {email}").click()
    await page.get_by_role("link", name="Sign up: create your tool's tenant").wait_for()
    assert blocked == []


async def test_an_operator_signs_in(context: BrowserContext, services: Services) -> None:
    email = unique_email("op")
    await services.accounts.create_operator(email, PASSWORD)
    page = await context.new_page()
    await page.goto("/admin/")
    await page.wait_for_url("**/admin/login?next=*")
    await check_page(page, "operator-sign-in")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Operator console").wait_for()
    await check_page(page, "operator-console")
    await follow(page, page.get_by_role("link", name="Mail outbox").first, "/admin/mail")
    await check_page(page, "operator-mail")


async def test_an_owner_of_another_tenant_joins_by_invitation_then_resets_the_password(
    chromium: Browser, console_broker: RunningBroker, mailbox: Mailbox, browser_factory: Callable[[], HttpBrowser],
) -> None:  # fmt: skip
    inviting, invited, stranger = browser_factory(), browser_factory(), browser_factory()
    host = await signed_in_owner(inviting, mailbox, name="Host Tool")
    guest = await signed_in_owner(invited, mailbox, name="Guest Tool")
    other = await signed_in_owner(stranger, mailbox, name="Stranger Tool")
    await inviting.post(f"/console/{host.slug}/members", {"email": guest.email, "role": "member"})
    invitation = link_in(await mailbox.async_wait_for(guest.email, "invited"), "/invitations/accept")

    context = await chromium.new_context(base_url=console_broker.base_url)
    page = await context.new_page()
    blocked = watch_csp(page)
    await page.goto(invitation)
    await page.get_by_role("heading", name="Join Host Tool").wait_for()
    await check_page(page, "invitation")
    await page.get_by_label("Your password").fill("not my password at all")
    await page.get_by_role("button", name="Join").click()
    await page.locator("#message").wait_for()
    await check_page(page, "invitation-wrong-password")
    await page.get_by_label("Your password").fill(PASSWORD)
    await page.get_by_role("button", name="Join").click()
    await page.get_by_role("heading", name="Your tenants").wait_for()
    await check_page(page, "console-index")
    assert await page.get_by_role("link", name="Host Tool").is_visible()
    await page.get_by_role("link", name="Host Tool").click()
    await page.get_by_role("link", name="Webhooks").click()
    await page.get_by_text("Only the tenant's owners can change the webhook").wait_for()
    assert await page.get_by_label("Webhook URL").count() == 0
    await check_page(page, "console-webhooks-member")

    await page.goto(invitation)
    await page.get_by_role("heading", name="This link cannot be used").wait_for()
    await check_page(page, "link-refused")
    refused = await page.goto(f"/console/{other.slug}/")
    assert refused is not None and refused.status == 404
    await check_page(page, "refusal")
    await page.goto("/account")
    await page.get_by_role("button", name=f"Sign out {guest.email}").click()

    await page.goto("/login")
    await follow(page, page.get_by_role("link", name="Forgot your password?"), "/reset-password")
    await check_page(page, "reset-request")
    await page.get_by_label("E-mail address").fill(guest.email)
    await page.get_by_role("button", name="Send the link").click()
    await page.get_by_role("heading", name="Check your inbox").wait_for()
    await check_page(page, "reset-sent")
    await page.goto(link_in(await mailbox.async_wait_for(guest.email, "password"), "/reset-password/confirm"))
    await check_page(page, "reset-confirm")
    await page.get_by_label("New password").fill("short")
    await page.get_by_role("button", name="Set the password").click()
    await page.locator("#password-error").wait_for()
    await check_page(page, "reset-confirm-errors")
    await page.get_by_label("New password").fill(PASSWORD + " again")
    await page.get_by_role("button", name="Set the password").click()
    await page.get_by_role("heading", name="Your password is changed").wait_for()
    await check_page(page, "password-changed")
    assert blocked == []
    await context.close()


async def test_a_platform_s_longest_values_never_widen_the_pages(
    context: BrowserContext, mailbox: Mailbox, services: Services
) -> None:
    page = await context.new_page()
    _, slug = await sign_up_and_in(page, mailbox, "Long Values Tool")
    tenant = await services.tenants.get_by_slug(slug)
    assert tenant is not None
    long_url = "https://lms.example/" + "a" * (URL_LENGTH - len("https://lms.example/"))
    async with services.database.transaction() as session:
        attempt = RegistrationAttempt(
            tenant_id=tenant.id, status="failed", openid_configuration_url=long_url, issuer=long_url,
            error_code="PlatformUnreachableError", error_detail="b" * 5000,
        )  # fmt: skip
        session.add(attempt)
    operator_email = unique_email("op")
    await services.accounts.create_operator(operator_email, PASSWORD)
    for path in (f"/console/{slug}/attempts", f"/console/{slug}/attempts/{attempt.id}", "/admin/"):
        if path == "/admin/":
            await page.goto("/admin/login")
            await page.get_by_label("E-mail address").fill(operator_email)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_role("heading", name="Operator console").wait_for()
        else:
            await page.goto(path)
        width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{path} scrolls sideways: {width}"


async def sign_up_and_in(page: Page, mailbox: Mailbox, name: str) -> tuple[str, str]:
    """Signs up through the pages, confirms the address from the mail, signs in; the e-mail and slug."""
    email, slug = unique_email(), unique_slug("web")
    await page.goto("/signup")
    await page.get_by_label("Tool name").fill(name)
    await page.get_by_label("Tenant address").fill(slug)
    await page.get_by_label("Your e-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create the tenant").click()
    await page.get_by_role("heading", name="Check your inbox").wait_for()
    await page.goto(link_in(await mailbox.async_wait_for(email, "Confirm"), "/verify-email"))
    await page.get_by_role("button", name="Confirm my address").click()
    await page.goto("/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"**/console/{slug}/")
    return email, slug


async def test_the_tool_editor_names_each_wrong_launch_field_beside_it(
    context: BrowserContext, mailbox: Mailbox, services: Services
) -> None:
    page = await context.new_page()
    blocked = watch_csp(page)
    _, slug = await sign_up_and_in(page, mailbox, "Launch Fields Tool")
    before = await services.tenants.get_by_slug(slug)
    assert before is not None
    await page.get_by_role("link", name="Tool configuration").click()
    resource_link = page.get_by_role("group", name="Resource link launch")
    await resource_link.get_by_label("Label").fill("Open the quiz")
    await resource_link.get_by_label("Icon URL").fill("ftp://quiz.example/icon.png")
    await resource_link.get_by_label("Other placements").fill("course_navigation")
    review = page.get_by_role("group", name="Submission review")
    assert await review.get_by_label("Label").is_hidden(), "a launch not offered shows only its checkbox"
    await review.get_by_label("Offer this launch").check()
    assert await review.get_by_label("Label").is_visible()
    await review.get_by_label("Custom parameters of this launch").fill("mode: review")
    await page.get_by_role("button", name="Save", exact=True).click()

    icon = page.get_by_role("group", name="Resource link launch").get_by_label("Icon URL")
    await page.locator("#resource_link_icon_uri-error").wait_for()
    assert await icon.get_attribute("aria-invalid") == "true"
    assert "resource_link_icon_uri-error" in (await icon.get_attribute("aria-describedby") or "")
    assert await page.locator("#resource_link_icon_uri-error").text_content() == "must be an absolute http(s) URL"
    assert "name=value" in (await page.locator("#submission_review_custom_parameters-error").text_content() or "")
    assert await page.get_by_role("group", name="Resource link launch").get_by_label("Label").input_value() == (
        "Open the quiz"
    )
    await check_page(page, "console-tool-errors")
    after = await services.tenants.get_by_slug(slug)
    assert after is not None and after.tool_configuration == before.tool_configuration, "nothing is saved half-way"

    await icon.fill("https://quiz.example/icon.png")
    await page.get_by_role("group", name="Submission review").get_by_label("Custom parameters of this launch").fill(
        "mode=review"
    )
    await page.get_by_role("button", name="Preview the registration requests").click()
    await page.locator("#message").filter(has_text="nothing is saved yet").wait_for()
    requests = await page.locator("pre[id^=preview-request-]").all_text_contents()
    assert any('"label": "Open the quiz"' in request for request in requests)
    await page.get_by_role("button", name="Save", exact=True).click()
    await page.locator("#message").filter(has_text="Saved.").wait_for()
    await page.reload()
    review = page.get_by_role("group", name="Submission review")
    assert await review.get_by_label("Offer this launch").is_checked()
    assert await review.get_by_label("Custom parameters of this launch").input_value() == "mode=review"
    assert blocked == []


async def test_from_sign_up_to_a_registration_then_keys_webhooks_and_suspension(
    chromium: Browser, context: BrowserContext, console_broker: RunningBroker, mailbox: Mailbox, services: Services,
    lms_origin: str,
) -> None:  # fmt: skip
    page = await context.new_page()
    blocked = watch_csp(page)
    _, slug = await sign_up_and_in(page, mailbox, "Whole Product Tool")

    await page.get_by_role("link", name="Tool configuration").click()
    await page.get_by_label("Description").fill("Quizzes <b>for</b> everyone")
    await page.get_by_label("Launch URL").fill("https://quiz.example/lti")
    await page.get_by_role("button", name="Save", exact=True).click()
    await page.locator("#message").filter(has_text="Saved.").wait_for()
    await check_page(page, "console-tool")

    await page.get_by_role("link", name="Webhooks").click()
    await page.get_by_label("Webhook URL").fill("https://hooks.example/lti")
    await page.get_by_role("button", name="Save").click()
    assert (await page.locator("#webhook-secret").text_content() or "").startswith("whsec_")

    await page.get_by_role("link", name="Overview").click()
    await page.get_by_role("button", name="Copy").click()
    await page.locator("#registration-url-status").filter(has_text="Copied.").wait_for()
    registration_url = await page.evaluate("navigator.clipboard.readText()")
    assert registration_url == console_broker.url(f"/t/{slug}/lti/register")

    with MoodleEmulator.running() as moodle:
        lms = await context.new_page()
        await lms.goto(f"{lms_origin}/?mode=iframe&target={quote(moodle.initiation_url(registration_url), safe='')}")
        frame = lms.frame_locator("#tool")
        await frame.locator("#register").click(timeout=15_000)
        await frame.locator("#done").click(timeout=15_000)
        closed = {"subject": "org.imsglobal.lti.close", "origin": console_broker.base_url, "count": 1}
        assert await close_message(lms) == closed
        await lms.close()

    await page.get_by_role("link", name="Registrations").click()
    await check_page(page, "console-registrations")
    await page.locator(f"a[href^='/console/{slug}/registrations/reg_']").first.click()
    assert await page.locator("#status").text_content() == "active"
    await check_page(page, "console-registration")

    await page.get_by_role("link", name="Signing keys").click()
    await page.get_by_role("button", name="Rotate the signing key").click()
    await page.locator("#message").filter(has_text="starts signing at").wait_for()
    await check_page(page, "console-signing-keys")

    await page.get_by_role("link", name="Webhooks").click()
    await page.get_by_role("heading", name="registration.created: pending").wait_for()
    await page.get_by_role("button", name="Replay event").first.click()
    await page.locator("#message").filter(has_text="queued for delivery again").wait_for()
    await check_page(page, "console-webhooks")

    for name in ("API keys", "Attempts", "Audit log"):
        await page.get_by_role("link", name=name, exact=True).click()
        await check_page(page, "console-" + name.lower().replace(" ", "-"))
    await page.get_by_role("link", name="Attempts", exact=True).click()
    await page.locator(f"a[href^='/console/{slug}/attempts/']").first.click()
    await check_page(page, "console-attempt")
    assert blocked == []

    operator_email = unique_email("op")
    await services.accounts.create_operator(operator_email, PASSWORD)
    operator_context = await chromium.new_context(base_url=console_broker.base_url)
    operator = await operator_context.new_page()
    await operator.goto("/admin/login")
    await operator.get_by_label("E-mail address").fill(operator_email)
    await operator.get_by_label("Password").fill(PASSWORD)
    await operator.get_by_role("button", name="Sign in").click()
    await operator.get_by_label("Find a tenant by slug or name").fill(slug)
    await operator.get_by_role("button", name="Search").click()
    await operator.get_by_role("button", name=f"Suspend {slug}").click()
    await operator.get_by_role("button", name=f"Resume {slug}").wait_for()
    await check_page(operator, "operator-tenants")
    suspended = await operator.goto(registration_url + "?openid_configuration=https://lms.example/x")
    assert suspended is not None and suspended.status == 403
    assert await operator.get_by_role("heading", name="This tool is suspended").is_visible()
    await operator_context.close()
