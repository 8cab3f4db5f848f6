"""The login redirect is not an open redirect: registration is open to anyone, so a registrant's platform could
otherwise turn /t/{slug}/lti/login into a link on the broker's host that lands on any sign-in page it likes.
The broker goes straight on only in a frame, or for a browser its LMS sent (its Origin or Referer is one of the
platform's own hosts, or one a completed launch started from); anything else gets a page naming where it leads.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import httpx

from broker.services import Services
from tests.conftest import RunningBroker
from tests.e2e.flow import forms_of
from tests.e2e.launching import Launch, finish, registered
from tests.emulators import GenericEmulator, PlatformEmulator
from tests.emulators.launch import LoginInitiation, parse_form_post

EVIL = "https://evil.example"


async def login(http: httpx.AsyncClient, platform: PlatformEmulator, headers: dict[str, str]) -> httpx.Response:
    return (await started_login(http, platform, headers))[1]


async def started_login(
    http: httpx.AsyncClient, platform: PlatformEmulator, headers: dict[str, str]
) -> tuple[LoginInitiation, httpx.Response]:
    started = platform.login_initiation()
    return started, await http.get(started.url, params=started.params, headers=headers)


def continue_link(page: httpx.Response) -> str:
    found = re.search(r'id="continue" href="([^"]+)"', page.text)
    assert found, page.text
    return html.unescape(found.group(1))


def authorization_endpoint(platform: PlatformEmulator) -> str:
    return str(platform.openid_configuration()["authorization_endpoint"])


async def test_a_login_from_an_email_or_another_site_gets_a_page_naming_where_it_leads(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        from_email = await login(http, setup.platform, {})
        from_elsewhere = await login(
            http, setup.platform, {"Origin": EVIL, "Referer": EVIL + "/phish", "Sec-Fetch-Dest": "document"}
        )
        null_origin = await login(http, setup.platform, {"Origin": "null"})
    host = urlsplit(authorization_endpoint(setup.platform)).hostname or ""
    for page in (from_email, from_elsewhere, null_origin):
        assert page.status_code == 200, page.text
        assert "location" not in page.headers
        assert f"Continue to {host}" in page.text and "Quiz &lt;Tool&gt;" in page.text
        assert continue_link(page).startswith(authorization_endpoint(setup.platform) + "?")
        assert not forms_of(page.text), "nothing on the page moves on by itself"


async def test_a_login_in_a_frame_goes_straight_on_wherever_it_came_from(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    # LMSs show tools in frames; a redirect inside someone else's frame shows nobody the broker's address.
    async with registered(http, broker, services) as setup:
        framed = await login(http, setup.platform, {"Sec-Fetch-Dest": "iframe", "Referer": "https://course.example/"})
    assert framed.status_code == 302, framed.text
    assert framed.headers["location"].startswith(authorization_endpoint(setup.platform) + "?")


async def test_a_login_the_lms_starts_from_its_own_pages_goes_straight_on(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        origin = setup.platform.base_url
        posted = setup.platform.login_initiation()
        form_post = await http.post(posted.url, data=posted.params, headers={"Origin": origin})
        linked = await login(http, setup.platform, {"Referer": origin + "/course/1"})
    for answer in (form_post, linked):
        assert answer.status_code == 302, answer.text
        assert answer.headers["location"].startswith(authorization_endpoint(setup.platform) + "?")


async def test_a_host_a_launch_was_started_from_goes_straight_on_after_that_launch_completes(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    # An LMS whose course pages live on another host than any URL in its configuration (Blackboard's).
    school = {"Origin": "https://learn.school.example"}
    async with registered(http, broker, services, GenericEmulator) as setup:
        started, first = await started_login(http, setup.platform, school)
        authorization = await http.get(continue_link(first))
        launch = Launch(started, first, authorization, parse_form_post(authorization.text))
        relayed = await finish(http, launch)
        again = await login(http, setup.platform, school)
        elsewhere = await login(http, setup.platform, {"Origin": EVIL})
    assert first.status_code == 200 and "Continue to" in first.text
    assert relayed.relay is not None and relayed.relay.status_code == 200, relayed.relay and relayed.relay.text
    assert "launch_token" in relayed.relay.text
    assert again.status_code == 302
    assert elsewhere.status_code == 200, "only the host the completed launch came from is learnt"
