"""Launches bound by the 1EdTech LTI Client Side postMessages storage (`lti_storage_target`), over httpx:
the tests play the pages' scripts (read their data-* attributes, answer as the storage frame would) and post
what the scripts would post. The real scripts run in Chromium in test_browser_storage.py.
"""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest

from broker.inline_scripts import STORAGE_GET, STORAGE_PUT
from broker.launch.client_storage import PROOF_FIELD, storage_key
from broker.services import Services
from tests.conftest import RunningBroker
from tests.e2e.launching import Registered, registered
from tests.e2e.test_launch import assert_refused
from tests.emulators.launch import STORAGE_TARGET, FormPost, parse_form_post


class _StorageElement(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id") == "lti-storage":
            self.data = {name[5:]: value or "" for name, value in attrs if name.startswith("data-")}


def storage_data(page: str) -> dict[str, str]:
    parser = _StorageElement()
    parser.feed(page)
    return parser.data


async def login_with_storage(http: httpx.AsyncClient, setup: Registered) -> tuple[dict[str, str], FormPost]:
    """The login's storage page, and the platform's form_post reached by the page's navigation."""
    setup.platform.storage_target = STORAGE_TARGET
    started = setup.platform.login_initiation()
    login = await http.post(started.url, data=started.params, headers=started.browser_headers("POST"))
    assert login.status_code == 200, login.text
    assert f"script-src {STORAGE_PUT.csp_hash};" in login.headers["content-security-policy"]
    put = storage_data(login.text)
    authorization = await http.get(put["next"])
    return put, parse_form_post(authorization.text)


async def first_post(http: httpx.AsyncClient, platform_post: FormPost) -> FormPost:
    """The form_post from a browser with no cookie: the broker answers with its storage-reading page."""
    check = await http.post(platform_post.action, data=platform_post.fields)
    assert check.status_code == 200, check.text
    assert f"script-src {STORAGE_GET.csp_hash};" in check.headers["content-security-policy"]
    assert "launch_token" not in check.text
    return parse_form_post(check.text)


async def test_a_cookieless_browser_launches_through_the_platforms_storage(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        put, platform_post = await login_with_storage(http, setup)
        assert put["target"] == STORAGE_TARGET
        assert put["origin"] == setup.platform.base_url, "messages go to the authorization endpoint's origin"
        assert put["key"] == storage_key(platform_post.fields["state"])
        await first_post(http, platform_post)
        check = await first_post(http, platform_post)  # the first post did not spend the state
        fields = {**check.fields, PROOF_FIELD: put["value"]}
        relay = await http.post(check.action, data=fields, headers={"Sec-Fetch-Site": "same-origin"})
        assert relay.status_code == 200, relay.text
        form = parse_form_post(relay.text)
        tool_answer = await http.post(form.action, data=form.fields)
        assert tool_answer.status_code == 200, tool_answer.text
        replay = await http.post(check.action, data=fields, headers={"Origin": broker.base_url})
        assert replay.status_code == 400


@pytest.mark.parametrize("proof", ["wrong", ""])
async def test_a_wrong_storage_proof_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture, proof: str
) -> None:
    async with registered(http, broker, services) as setup:
        _, platform_post = await login_with_storage(http, setup)
        check = await first_post(http, platform_post)
        fields = {**check.fields, PROOF_FIELD: proof}
        page = await http.post(check.action, data=fields, headers={"Origin": broker.base_url})
        assert_refused(page, 400, "does not hold it", caplog)


async def test_a_proof_posted_by_another_site_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Whoever started a login knows its nonce: a cross-site form carrying it must not finish the launch."""
    async with registered(http, broker, services) as setup:
        put, platform_post = await login_with_storage(http, setup)
        fields = {**platform_post.fields, PROOF_FIELD: put["value"]}
        page = await http.post(platform_post.action, data=fields, headers={"Origin": "https://attacker.example"})
        assert_refused(page, 400, "does not hold it", caplog)


async def test_a_browser_with_the_state_cookie_keeps_the_cookie_path(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        setup.platform.storage_target = STORAGE_TARGET
        started = setup.platform.login_initiation()
        login = await http.post(started.url, data=started.params, headers=started.browser_headers("POST"))
        jar = "; ".join(cookie.split(";")[0] for cookie in login.headers.get_list("set-cookie"))
        platform_post = parse_form_post((await http.get(storage_data(login.text)["next"])).text)
        relay = await http.post(platform_post.action, data=platform_post.fields, headers={"Cookie": jar})
        assert relay.status_code == 200
        assert "launch_token" in relay.text
