"""The built-in demo tool of `make run`: a launch of the demo tenant lands on it, verified and shown escaped."""

from __future__ import annotations

import re

import httpx

from broker.demo_tool import DEMO_SLUG, demo_tool_url
from broker.services import Services
from tests.broker.test_cli import run_cli
from tests.conftest import RunningBroker
from tests.e2e.flow import register
from tests.e2e.launching import launch, relay_to_tool
from tests.emulators import GenericEmulator


async def test_a_demo_launch_shows_its_claims_escaped(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    tool_url = demo_tool_url(broker.base_url)
    if await services.tenants.get_by_slug(DEMO_SLUG) is None:
        await services.tenants.create(DEMO_SLUG, "Demo Tool", tool_url=tool_url)
    with GenericEmulator.running() as platform:
        outcome = await register(http, broker.url(f"/t/{DEMO_SLUG}/lti/register"), platform)
        assert outcome.last_page.status_code == 200, outcome.last_page.text
        done = await launch(http, platform)
        page = await relay_to_tool(http, done)
        forged = await http.post(tool_url, data={"launch_token": done.launch_token[:-4] + "AAAA"})

    assert done.relay_form.action == tool_url
    assert page.status_code == 200, page.text
    assert "hello, Ada &lt;b&gt;Lovelace&lt;/b&gt;" in page.text
    assert "History &lt;i&gt;of&lt;/i&gt; Science" in page.text
    assert "x-frame-options" not in page.headers, "the LMS frames the tool"
    assert forged.status_code == 400 and "signature" in forged.text


async def test_the_demo_tool_tells_users_apart_by_platform_and_sub(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    if await services.tenants.get_by_slug(DEMO_SLUG) is None:
        await services.tenants.create(DEMO_SLUG, "Demo Tool", tool_url=demo_tool_url(broker.base_url))
    with GenericEmulator.running() as first, GenericEmulator.running() as second:
        for platform in (first, second):
            outcome = await register(http, broker.url(f"/t/{DEMO_SLUG}/lti/register"), platform)
            assert outcome.last_page.status_code == 200, outcome.last_page.text
        pages = [await relay_to_tool(http, await launch(http, platform)) for platform in (first, first, second)]
    found = [re.search(r'<code>([^<]*)</code> of the LMS <code>([^<]*)</code>', page.text) for page in pages]
    identities = [match.groups() if match else None for match in found]
    launches = [re.search(r'id="launches">(\d+)<', page.text) for page in pages]
    # The same sub from two LMSs is two people: the second LMS's user starts at launch 1.
    assert identities[0] and identities[0][0] == identities[2][0] and identities[0][1] != identities[2][1]
    assert [match.group(1) if match else None for match in launches] == ["1", "2", "1"]


def test_broker_demo_points_the_demo_tenant_at_the_demo_tool(broker: RunningBroker) -> None:
    result = run_cli(broker, "demo")
    assert result.returncode == 0, result.stderr
    assert f"Launches go to:   {demo_tool_url(broker.base_url)}" in result.stdout
