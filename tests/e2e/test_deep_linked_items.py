"""Deep-linked content that launches: a tool deep-links items at its own URLs, the platform stores them as it
does, and each stored item's launch reaches the tool at the item's URL (`target`), on Moodle, Canvas, the
strict platform and Open edX's way of launching them. Then what must never launch.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from broker.services import Services
from tests.conftest import TENANT_DOMAIN, RunningBroker, unique_slug
from tests.e2e.flow import register
from tests.e2e.launching import Registered, launch, registered, relay_to_tool, start
from tests.emulators import CanvasEmulator, GenericEmulator, MoodleEmulator, PlatformEmulator
from tests.emulators.launch import DEEP_LINKING, LTI, SUBMISSION_REVIEW, parse_form_post
from tests.emulators.tool import ToolEmulator

pytestmark = pytest.mark.asyncio(loop_scope="session")
EMULATORS = {"moodle": MoodleEmulator, "canvas": CanvasEmulator, "generic": GenericEmulator}


def items_at(setup: Registered) -> list[dict[str, Any]]:
    base = setup.tool.base_url
    return [
        {"type": "ltiResourceLink", "title": "Quiz 1", "url": f"{base}/quiz/1"},
        {"type": "ltiResourceLink", "title": "Quiz 2", "url": f"{base}/quiz/2?level=hard&lang=fr"},
    ]


async def deep_link(
    http: httpx.AsyncClient, broker: RunningBroker, setup: Registered, items: list[dict[str, Any]]
) -> httpx.Response:
    """The tool's Deep Linking answer; when the broker signs it, the platform receives it and stores the items."""
    done = await launch(http, setup.platform, message_type=DEEP_LINKING)
    assert (await relay_to_tool(http, done)).status_code == 200
    answer = await http.post(
        broker.url("/api/v1/deep-linking/response"),
        json={"launch_token": done.launch_token, "content_items": items},
        headers=setup.api_headers,
    )
    if answer.status_code == 200:
        form = parse_form_post(answer.json()["html"])
        assert (await http.post(form.action, data=form.fields)).status_code == 200
    return answer


async def launch_item(http: httpx.AsyncClient, platform: PlatformEmulator, item: dict[str, Any], **options: Any) -> str:
    """The stored item's launch, relayed to the tool; the URL the tool received it at."""
    done = await launch(http, platform, item=item, **options)
    assert done.relay is not None and done.relay.status_code == 200, done.relay and done.relay.text
    assert (await relay_to_tool(http, done)).status_code == 200
    return done.relay_form.action


@pytest.mark.parametrize("name", list(EMULATORS))
async def test_each_stored_item_launches_at_its_own_url(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, name: str
) -> None:
    async with registered(http, broker, services, EMULATORS[name]) as setup:
        items = items_at(setup)
        assert (await deep_link(http, broker, setup, items)).status_code == 200
        stored = setup.platform.stored_items
        posted = [await launch_item(http, setup.platform, item) for item in stored]
        tool = setup.tool

    expected = [item["url"] for item in items]
    assert posted == expected == tool.launch_posts[1:], "each launch is posted to its item's URL"
    assert [claims["target"] for claims in tool.launches] == [tool.launch_url, *expected]
    assert all(claims["aud"] == tool.launch_url for claims in tool.launches), "aud stays the tool URL"
    tenant_urls = broker.url(f"/t/{setup.slug}/")
    assert all(item["url"].startswith(tenant_urls) for item in stored), "the platform holds broker URLs"
    assert all(tool.base_url not in item["url"] for item in stored), "which carry no tool URL in clear"
    assert [item["title"] for item in stored] == ["Quiz 1", "Quiz 2"]


async def test_open_edx_s_item_launch_with_the_item_url_in_the_id_token_only(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services, item_url_in_login=False) as setup:
        items = items_at(setup)
        assert (await deep_link(http, broker, setup, items)).status_code == 200
        posted = [await launch_item(http, setup.platform, item) for item in setup.platform.stored_items]
        initiations = setup.platform.authorization_requests
    assert posted == [item["url"] for item in items]
    assert [claims["target"] for claims in setup.tool.launches[1:]] == posted
    assert len(initiations) == 3


async def test_an_item_url_issued_for_another_registration_or_altered_never_launches(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        assert (await deep_link(http, broker, setup, items_at(setup))).status_code == 200
        issued = setup.platform.stored_items[0]["url"]
        async with registered(http, broker, services, item_url_in_login=False) as other:
            # The same tenant's item URL path, on another tenant, and an item URL of another platform.
            foreign = issued.replace(f"/t/{setup.slug}/", f"/t/{other.slug}/")
            at_login = await start(http, other.platform, item={"url": foreign}, target_link_uri=foreign)
            in_id_token = await launch(http, other.platform, item={"url": foreign})
        altered = await start(http, setup.platform, item={"url": issued[:-3] + "AAA"})
        unsigned = await start(http, setup.platform, item={"url": issued.rsplit(".", 1)[0]})
    assert at_login.login.status_code == 400 and "target_link_uri" in at_login.login.text
    assert in_id_token.relay is not None and in_id_token.relay.status_code == 400
    assert "target_link_uri" in in_id_token.relay.text
    for refused in (altered, unsigned):
        assert refused.login.status_code == 400 and "target_link_uri" in refused.login.text
    assert len(setup.tool.launches) == 1 and len(other.tool.launches) == 0, "only the deep linking launch"


async def test_an_item_without_url_launches_at_the_tool_url(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services, CanvasEmulator) as setup:
        items = [{"type": "ltiResourceLink", "title": "Whole course"}, *items_at(setup)[:1]]
        assert (await deep_link(http, broker, setup, items)).status_code == 200
        (whole, _) = setup.platform.stored_items
        assert "url" not in whole
        posted = await launch_item(http, setup.platform, whole)
    assert posted == setup.tool.launch_url
    assert setup.tool.launches[-1]["target"] == setup.tool.launch_url


async def test_an_item_at_the_tool_url_itself_is_a_plain_launch(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services, MoodleEmulator) as setup:
        item = {"type": "ltiResourceLink", "title": "Home", "url": setup.tool.launch_url}
        assert (await deep_link(http, broker, setup, [item])).status_code == 200
        (stored,) = setup.platform.stored_items
        posted = await launch_item(http, setup.platform, stored)
    assert stored["url"] == broker.url(f"/t/{setup.slug}/lti/launch")
    assert posted == setup.tool.launch_url


async def test_a_submission_review_launches_at_its_review_url(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services, MoodleEmulator) as setup:
        review_url = f"{setup.tool.base_url}/quiz/1/review?by=teacher"
        item = {
            **items_at(setup)[0],
            "lineItem": {"scoreMaximum": 10, "submissionReview": {"url": review_url, "label": "Review"}},
        }
        assert (await deep_link(http, broker, setup, [item])).status_code == 200
        (stored,) = setup.platform.stored_items
        review = await launch_item(http, setup.platform, stored, message_type=SUBMISSION_REVIEW)
        plain = await launch_item(http, setup.platform, stored)
    assert stored["lineItem"]["submissionReview"]["url"].startswith(broker.url(f"/t/{setup.slug}/"))
    assert stored["lineItem"]["scoreMaximum"] == 10
    assert review == review_url and plain == item["url"]
    review_claims = setup.tool.launches[1]
    assert review_claims["target"] == review_url
    assert review_claims["lti"][LTI + "message_type"] == SUBMISSION_REVIEW


@pytest.mark.parametrize(
    ("where", "url"),
    [
        ("content_items[1].url", "https://elsewhere.example/quiz/1"),
        ("content_items[1].url", "javascript:alert(1)"),
        ("content_items[1].lineItem.submissionReview.url", None),
    ],
)
async def test_an_item_url_off_the_tool_s_origin_is_refused_naming_the_item(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, where: str, url: str | None
) -> None:
    async with registered(http, broker, services) as setup:
        good, bad = items_at(setup)
        if url is None:
            bad = {**bad, "lineItem": {"submissionReview": {"url": "https://elsewhere.example/review"}}}
        else:
            bad = {**bad, "url": url}
        answer = await deep_link(http, broker, setup, [good, bad])
        assert setup.platform.deep_link_responses == []
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert where in answer.json()["detail"]


async def test_on_a_tenant_host_items_are_issued_there_and_launch(
    http: httpx.AsyncClient, hosts_broker: RunningBroker, hosts_services: Services
) -> None:
    with ToolEmulator.running() as tool, MoodleEmulator.running() as platform:
        created = await hosts_services.tenants.create(unique_slug("item"), "Item Quiz", tool_url=tool.launch_url)
        tool.launch_issuer = hosts_broker.url(f"/t/{created.tenant.slug}")
        site = hosts_broker.base_url.replace("127.0.0.1", f"{created.tenant.slug}.{TENANT_DOMAIN}")
        assert (await register(http, site + "/lti/register", platform)).last_page.status_code == 200
        headers = {"Authorization": f"Bearer {created.api_key}"}
        (registration,) = (await http.get(hosts_broker.url("/api/v1/registrations"), headers=headers)).json()["items"]
        setup = Registered(platform, tool, created, registration, httpx.Response(200))
        items = items_at(setup)
        assert (await deep_link(http, hosts_broker, setup, items)).status_code == 200
        stored = platform.stored_items
        posted = [await launch_item(http, platform, item) for item in stored]
    assert all(item["url"].startswith(site + "/lti/items/") for item in stored)
    assert posted == [item["url"] for item in items]
