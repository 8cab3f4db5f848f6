"""Deep-linked item URLs: bound to a registration and a tool path, never pointing off the tool's origin."""

from __future__ import annotations

import pytest

from broker.launch.item_links import (
    ItemLinks,
    ItemUrlError,
    item_path,
    item_token,
    tool_path,
    tool_target,
    with_broker_urls,
)
from broker.settings import Settings
from tenants.hosts import TenantSite

KEY = b"k" * 32
TOOL_URL = "https://quiz.acme.example/lti/launch"


def test_a_token_reads_back_only_for_its_registration_and_intact() -> None:
    token = item_token(KEY, "reg-1", "/quiz/1?level=hard")
    assert item_path(KEY, "reg-1", token) == "/quiz/1?level=hard"
    assert item_path(KEY, "reg-2", token) is None
    assert item_path(b"x" * 32, "reg-1", token) is None
    encoded, mac = token.split(".")
    other = item_token(KEY, "reg-1", "/quiz/2").split(".")[0]
    for forged in (f"{other}.{mac}", encoded, f"{encoded}.", f".{mac}", f"{encoded}.{mac}=", f"{encoded}.!!"):
        assert item_path(KEY, "reg-1", forged) is None, forged


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://quiz.acme.example/quiz/1", "/quiz/1"),
        ("HTTPS://Quiz.Acme.Example/quiz/1?a=1&b=2#top", "/quiz/1?a=1&b=2"),
        ("https://quiz.acme.example", "/"),
    ],
)
def test_the_tool_path_of_a_url_on_the_tool_s_origin(url: str, path: str) -> None:
    assert tool_path(TOOL_URL, url) == path
    assert tool_target(TOOL_URL, path) == "https://quiz.acme.example" + path


@pytest.mark.parametrize(
    "url",
    [
        "http://quiz.acme.example/quiz/1",
        "https://quiz.acme.example:8443/quiz/1",
        "https://evil.example/quiz/1",
        "https://user@quiz.acme.example/quiz/1",
        "//quiz.acme.example/quiz/1",
        "/quiz/1",
        "javascript:alert(1)",
    ],
)
def test_a_url_off_the_tool_s_origin_has_no_tool_path(url: str) -> None:
    with pytest.raises(ValueError, match="not on the tool URL's origin"):
        tool_path(TOOL_URL, url)


def test_only_resource_link_urls_become_broker_urls() -> None:
    items = [
        {"type": "ltiResourceLink", "url": "https://quiz.acme.example/quiz/1", "title": "Q"},
        {"type": "link", "url": "https://elsewhere.example/reading.pdf"},
        {"type": "ltiResourceLink", "lineItem": {"scoreMaximum": 5}},
    ]
    done = with_broker_urls(items, TOOL_URL, lambda path: f"broker:{path}")
    assert done == [
        {"type": "ltiResourceLink", "url": "broker:/quiz/1", "title": "Q"},
        items[1],
        items[2],
    ]
    assert items[0]["url"] == "https://quiz.acme.example/quiz/1", "the tool's items are not changed in place"


@pytest.mark.parametrize("url", [None, 7, "https://elsewhere.example/x"])
def test_a_bad_submission_review_url_is_named(url: object) -> None:
    item = {"type": "ltiResourceLink", "lineItem": {"submissionReview": {"url": url}}}
    with pytest.raises(ItemUrlError) as raised:
        with_broker_urls([{"type": "ltiResourceLink"}, item], TOOL_URL, lambda path: path)
    assert raised.value.field == "content_items[1].lineItem.submissionReview.url"


def test_broker_urls_live_on_the_tenant_s_site_and_the_tool_url_itself_is_the_launch_url() -> None:
    links = ItemLinks(Settings(base_url="https://broker.example", secret_key="s" * 40))
    site = TenantSite("acme", "https://acme.lti.example")
    item_url = links.broker_url(site, "reg-1", TOOL_URL, "/quiz/1")
    assert item_url.startswith("https://acme.lti.example/lti/items/")
    assert links.broker_url(site, "reg-1", TOOL_URL, "/lti/launch") == site.launch_url
    token = links.token_in("acme", item_url + "?extra=1")
    assert token is not None and links.path_of("reg-1", token) == "/quiz/1"
    on_the_base_host = item_url.replace("https://acme.lti.example", "https://broker.example/t/acme")
    assert links.token_in("acme", on_the_base_host) == token, "the items made before the tenant had a host"
    assert links.token_in("other", on_the_base_host) is None
    assert links.token_in("acme", item_url + "/more") is None
    assert links.token_in("acme", site.launch_url) is None
