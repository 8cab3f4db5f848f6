"""In a real browser (Debian's Chromium driven by Playwright): the LMS frames the registration pages or opens
them in a popup, the admin presses Register, reads the result and presses Done, and the LMS receives the close
message from the broker's origin, once; when the result holds nothing to read, at once. This also proves the
pages' Content-Security-Policy lets their own script run and lets any LMS frame them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from html import escape
from urllib.parse import quote

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from broker.services import Services
from tenants.services import CreatedTenant
from tests.conftest import TENANT_DOMAIN, RunningBroker, unique_slug
from tests.emulators import MoodleEmulator
from tests.emulators.server import LoopbackServer, bind_loopback

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LISTENER = """
<pre id="log"></pre>
<script>
window.addEventListener("message", function (event) {
  var data = event.data || {};
  var log = document.getElementById("log");
  var count = log.textContent ? JSON.parse(log.textContent).count : 0;
  log.textContent = JSON.stringify({subject: data.subject, origin: event.origin, count: count + 1});
});
</script>
"""


def lms_page(request: Request) -> HTMLResponse:
    """The LMS admin's page: it frames the tool, or opens it in a popup, and listens for the close message."""
    target = escape(request.query_params["target"])
    if request.query_params.get("mode") == "popup":
        opener = f"<button id=\"open\" onclick=\"window.open('{target}', 'tool')\">Open</button>"
        return HTMLResponse(opener + LISTENER)
    return HTMLResponse(f'<iframe id="tool" src="{target}" width="900" height="700"></iframe>' + LISTENER)


@pytest.fixture(scope="module")
def lms_origin() -> Iterator[str]:
    """Served as http://localhost:<port>: another origin than the broker's 127.0.0.1, as in real life."""
    sock = bind_loopback()
    with LoopbackServer(Starlette(routes=[Route("/", lms_page)]), sock, lifespan="off"):
        yield f"http://localhost:{sock.getsockname()[1]}"


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        await browser.close()


async def close_message(page: Page) -> dict[str, str]:
    await page.wait_for_function("document.getElementById('log').textContent.length > 0", timeout=15_000)
    return json.loads(await page.text_content("#log") or "{}")


async def register_in_a_frame(browser: Browser, lms_origin: str, target: str) -> dict[str, str]:
    """The LMS frames the registration; the admin presses Register, then Done; the close message the LMS page
    got."""
    page = await browser.new_page()
    await page.goto(f"{lms_origin}/?mode=iframe&target={_quote(target)}")
    frame = page.frame_locator("#tool")
    await frame.locator("#register").click(timeout=15_000)
    await frame.locator("#done").click(timeout=15_000)
    message = await close_message(page)
    await page.close()
    return message


CLOSED_ONCE = {"subject": "org.imsglobal.lti.close", "count": 1}


async def test_framed_registration_closes_the_lms_dialog_when_the_admin_is_done(
    browser: Browser, broker: RunningBroker, tenant: CreatedTenant, lms_origin: str
) -> None:
    with MoodleEmulator.running() as moodle:
        target = moodle.initiation_url(broker.url(f"/t/{tenant.tenant.slug}/lti/register"))
        page = await browser.new_page()
        await page.goto(f"{lms_origin}/?mode=iframe&target={_quote(target)}")
        frame = page.frame_locator("#tool")
        await frame.locator("#register").click(timeout=15_000)
        await frame.locator("#verify").wait_for(timeout=15_000)
        assert await frame.get_by_text("you can close it now").is_visible()
        await frame.locator("#done").click()
        message = await close_message(page)
        await page.close()
        assert len(moodle.registrations) == 1
    # Counted once: the page did not post it on load, before the admin could press Verify.
    assert message == {**CLOSED_ONCE, "origin": broker.base_url}


async def test_a_result_with_nothing_to_read_closes_the_lms_dialog_at_once(
    browser: Browser, broker: RunningBroker, services: Services, lms_origin: str
) -> None:
    created = await services.tenants.create(
        unique_slug("acme"), "Acme Quiz", tool_url="https://tool.example/launch", tool_configuration={"scopes": []}
    )
    with MoodleEmulator.running() as moodle:
        target = moodle.initiation_url(broker.url(f"/t/{created.tenant.slug}/lti/register"))
        page = await browser.new_page()
        await page.goto(f"{lms_origin}/?mode=iframe&target={_quote(target)}")
        await page.frame_locator("#tool").locator("#register").click(timeout=15_000)
        message = await close_message(page)
        await page.close()
    assert message == {**CLOSED_ONCE, "origin": broker.base_url}


async def test_popup_registration_posts_to_its_opener(
    browser: Browser, broker: RunningBroker, tenant: CreatedTenant, lms_origin: str
) -> None:
    with MoodleEmulator.running() as moodle:
        target = moodle.initiation_url(broker.url(f"/t/{tenant.tenant.slug}/lti/register"))
        page = await browser.new_page()
        await page.goto(f"{lms_origin}/?mode=popup&target={_quote(target)}")
        async with page.expect_popup() as popup_info:
            await page.click("#open")
        popup = await popup_info.value
        await popup.click("#register", timeout=15_000)
        await popup.click("#done", timeout=15_000)
        message = await close_message(page)
        await page.close()
    assert message == {**CLOSED_ONCE, "origin": broker.base_url}


def _quote(url: str) -> str:
    return quote(url, safe="")


async def test_framed_registration_on_a_tenant_host(
    browser: Browser, hosts_broker: RunningBroker, hosts_services: Services, lms_origin: str
) -> None:
    """The tenant's own host (Chromium resolves names under .localhost to loopback by itself): the review
    page's form posts back to that host, and the close message comes from its origin."""
    created = await hosts_services.tenants.create(unique_slug("framed"), "Framed Quiz")
    site = hosts_broker.base_url.replace("127.0.0.1", f"{created.tenant.slug}.{TENANT_DOMAIN}")
    with MoodleEmulator.running() as moodle:
        message = await register_in_a_frame(browser, lms_origin, moodle.initiation_url(site + "/lti/register"))
        (sent,) = moodle.registration_requests
    assert message == {**CLOSED_ONCE, "origin": site}
    assert sent.json["initiate_login_uri"] == site + "/lti/login"
