"""Try it without an LMS, in Chromium: the built-in demo LMS frames the demo tenant's registration URL the way
Moodle does, the admin presses Register, the close message ends that step, and a launch reaches the demo tool."""

from __future__ import annotations

from playwright.async_api import Browser

from broker.demo_tool import DEMO_SLUG, demo_tool_url
from broker.services import Services
from tests.admin_ui.test_browser import check_page, follow, watch_csp
from tests.conftest import RunningBroker


async def test_a_newcomer_registers_and_launches_the_demo_tool_in_the_browser(
    chromium: Browser, broker: RunningBroker, services: Services
) -> None:
    if await services.tenants.get_by_slug(DEMO_SLUG) is None:
        await services.tenants.create(DEMO_SLUG, "Demo Tool", tool_url=demo_tool_url(broker.base_url))
    context = await chromium.new_context(base_url=broker.base_url)
    page = await context.new_page()
    blocked = watch_csp(page)
    await page.goto("/")
    await follow(page, page.get_by_role("link", name="Try it without an LMS"), "/try")
    await check_page(page, "try-it")
    registration = page.frame_locator('iframe[title="The demo tool\'s registration"]')
    await registration.locator("#register").click(timeout=15_000)
    await page.get_by_role("link", name="Open the demo tool as a student").wait_for(timeout=15_000)
    assert "the tool is registered" in (await page.locator("#closed").text_content() or "")

    await page.get_by_role("link", name="Open the demo tool as a student").click()
    tool = page.frame_locator("iframe[name=tool-frame]")
    await tool.get_by_text("Ada Lovelace").first.wait_for(timeout=15_000)
    assert blocked == []
    await context.close()


async def test_the_demo_lms_is_not_served_in_production(broker: RunningBroker) -> None:
    from dataclasses import replace

    from admin_ui import demo_lms

    assert demo_lms.routes(replace(broker.settings, environment="production")) == []
