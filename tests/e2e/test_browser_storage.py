"""In a real browser (Debian's Chromium driven by Playwright) that keeps no cookie of the broker's: the LMS's
course page frames its storage frame and the tool's login; the login stores the nonce in the platform's
storage with `lti.put_data`, the launch reads it back with `lti.get_data`, and the tool gets its launch_token.
This also proves the storage pages' Content-Security-Policy lets their constant scripts run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import pytest_asyncio
from playwright.async_api import BrowserContext, Page, Request, Route, async_playwright

from broker.launch.client_storage import PROOF_FIELD
from broker.services import Services
from tests.conftest import RunningBroker
from tests.e2e.launching import Registered, registered
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_FLAGS
from tests.emulators import CanvasEmulator
from tests.emulators.launch import COURSE_PATH, STORAGE_TARGET

# Third-party cookies phased out, and a profile that blocks every cookie: Chromium would still keep the
# broker's Partitioned (CHIPS) cookie in the LMS's frame, and the browsers this binding exists for keep none.
BLOCK_COOKIES = {"profile": {"default_content_setting_values": {"cookies": 2}}}


@pytest_asyncio.fixture(loop_scope="session")
async def cookieless(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    (tmp_path / "Default").mkdir()
    (tmp_path / "Default" / "Preferences").write_text(json.dumps(BLOCK_COOKIES))
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path),
            executable_path=CHROMIUM,
            args=[*CHROMIUM_FLAGS, "--test-third-party-cookie-phaseout"],
            headless=True,
        )
        yield context
        await context.close()


async def launch_in_course(
    context: BrowserContext, setup: Registered, storage: str = "frame"
) -> tuple[Page, list[Request]]:
    """The LMS's course page, on localhost (another site than the broker's and the platform's 127.0.0.1),
    framing its storage frame (or, `storage="page"`, answering itself) and the tool's login; returns the page
    and the broker's launch requests."""
    setup.platform.storage_target = STORAGE_TARGET
    started = setup.platform.login_initiation()
    login = f"{started.url}?{urlencode(started.params)}"
    course = urlsplit(setup.platform.base_url)
    course = course._replace(netloc=f"localhost:{course.port}")
    launches: list[Request] = []
    page = await context.new_page()
    page.on("request", lambda request: launches.append(request) if request.url.endswith("/lti/launch") else None)
    await page.goto(f"{course.geturl()}{COURSE_PATH}?storage={storage}&login={quote(login, safe='')}")
    return page, launches


async def test_a_cookieless_browser_launches_through_the_platforms_storage(
    cookieless: BrowserContext, http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        page, launches = await launch_in_course(cookieless, setup)
        await page.frame_locator("#tool").get_by_text("Launched.").wait_for(timeout=15_000)
        await page.close()
        assert len(setup.tool.launches) == 1, setup.tool.launch_refusals
        assert setup.tool.launches[0]["iss"] == broker.url(f"/t/{setup.slug}")
        assert [PROOF_FIELD in (request.post_data or "") for request in launches] == [False, True]
        assert not [cookie for cookie in await cookieless.cookies() if cookie["name"].startswith("lti_")]


async def test_without_the_named_frame_the_storage_of_the_page_holding_the_tool_is_used(
    cookieless: BrowserContext, http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    """Canvas's rich content editor names a storage target but has no such frame: Canvas documents posting to
    the window holding the tool, with '*' as the target origin; its answers come from the LMS page's origin."""
    async with registered(http, broker, services, CanvasEmulator) as setup:
        page, launches = await launch_in_course(cookieless, setup, storage="page")
        await page.frame_locator("#tool").get_by_text("Launched.").wait_for(timeout=15_000)
        await page.close()
        assert len(setup.tool.launches) == 1, setup.tool.launch_refusals
        assert [PROOF_FIELD in (request.post_data or "") for request in launches] == [False, True]


async def test_a_wrong_storage_proof_is_refused_in_the_browser(
    cookieless: BrowserContext, http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async def bend_proof(route: Route) -> None:
        data = route.request.post_data or ""
        if PROOF_FIELD not in data:
            await route.continue_()
            return
        fields = {**dict(parse_qsl(data)), PROOF_FIELD: "not-the-nonce"}
        await route.continue_(post_data=urlencode(fields))

    async with registered(http, broker, services) as setup:
        await cookieless.route("**/lti/launch", bend_proof)
        try:
            page, _ = await launch_in_course(cookieless, setup)
            refusal = page.frame_locator("#tool").get_by_text("does not hold it")
            await refusal.wait_for(timeout=15_000)
            await page.close()
        finally:
            await cookieless.unroute("**/lti/launch", bend_proof)
        assert setup.tool.launches == []
