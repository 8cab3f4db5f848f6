"""The tool configuration editor: every field checked by the API's own validator with its error beside it,
nothing saved half-way, and a preview of the exact registration request per platform profile."""

from __future__ import annotations

import re

import httpx

from admin_ui.console.launches import LAUNCHES
from broker import lti
from broker.services import Services
from tests.admin_ui.conftest import Browser, signed_in_owner
from tests.conftest import RunningBroker
from tests.smtp import Mailbox

PAYLOAD = '<script>alert("x")</script>'
LMS = ("Moodle", "Canvas", "Blackboard Learn", "Brightspace", "Sakai", "Schoology")


def form(**changes: str | list[str]) -> dict[str, str | list[str]]:
    values: dict[str, str | list[str]] = {
        "name": "Acme Quiz", "tool_url": "https://quiz.example/lti", "description": "", "logo_uri": "",
        "client_uri": "", "tos_uri": "", "policy_uri": "", "contacts": "", "translations": "", "other_scopes": "",
        "scopes": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"], "claims": ["sub", "name"],
        "resource_link_offered": "yes", "resource_link_label": "Quiz", "custom_parameters": "", "action": "save",
    }  # fmt: skip
    values.update(changes)
    return values


async def post(browser: Browser, slug: str, data: dict[str, str | list[str]]) -> httpx.Response:
    token = browser.client.cookies["broker_csrf"]
    return await browser.client.post(browser.broker.url(f"/console/{slug}/tool"), data={"csrftoken": token, **data})


async def test_the_editor_shows_the_request_each_platform_would_get(browser: Browser, mailbox: Mailbox) -> None:
    owner = await signed_in_owner(browser, mailbox)
    page = await browser.get(f"/console/{owner.slug}/tool")
    assert page.status_code == 200
    for lms in LMS:
        assert f">{lms} <span" in page.text
    assert "initiate_login_uri" in page.text and f"/t/{owner.slug}/lti/login" in page.text
    assert "Canvas privacy level public" in page.text, "what a profile adapted is shown with the request"


async def test_every_bad_field_is_named_beside_it_and_nothing_is_saved(
    browser: Browser, mailbox: Mailbox, services: Services
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    before = await services.tenants.get_by_slug(owner.slug)
    assert before is not None
    bad = form(
        logo_uri="javascript:alert(1)", contacts="not-an-address", translations="no colon here",
        other_scopes="openid", custom_parameters="novalue", claims=["sub"], description="x" * 2001,
        resource_link_label="x" * 2001, resource_link_custom_parameters="=nameless",
        deep_linking_offered="yes", deep_linking_icon_uri="javascript:alert(1)",
    )  # fmt: skip
    page = await post(browser, owner.slug, bad)
    assert page.status_code == 400
    for field in ("logo_uri", "contacts", "translations", "other_scopes", "custom_parameters", "description",
                  "resource_link_label", "resource_link_custom_parameters", "deep_linking_icon_uri"):  # fmt: skip
        assert f'id="{field}-error"' in page.text, field
    assert 'id="resource_link_label" name="resource_link_label"' in page.text and "x" * 2001 in page.text
    no_launch = await post(browser, owner.slug, form(resource_link_offered=""))
    assert no_launch.status_code == 400 and 'id="messages-error"' in no_launch.text
    no_name = await post(browser, owner.slug, form(name=" "))
    assert no_name.status_code == 400 and 'id="name-error"' in no_name.text
    after = await services.tenants.get_by_slug(owner.slug)
    assert after is not None and after.tool_configuration == before.tool_configuration and after.name == before.name


async def test_the_editor_and_the_api_refuse_alike(
    browser: Browser, mailbox: Mailbox, http: httpx.AsyncClient, console_broker: RunningBroker
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    page = await post(browser, owner.slug, form(resource_link_icon_uri="ftp://quiz.example/icon.png"))
    messages = [{"type": "LtiResourceLinkRequest", "icon_uri": "ftp://quiz.example/icon.png"}]
    api = await http.patch(
        console_broker.url("/api/v1/tenant"), json={"tool_configuration": {"messages": messages}},
        headers={"Authorization": f"Bearer {owner.api_key}"},
    )  # fmt: skip
    assert api.status_code == 422
    reason = api.json()["detail"].removeprefix("tool_configuration.").rstrip(".")
    assert reason == "messages[0].icon_uri: must be an absolute http(s) URL"
    shown = re.search(r'id="resource_link_icon_uri-error">([^<]*)<', page.text)
    assert page.status_code == 400 and shown and shown.group(1) == "must be an absolute http(s) URL"


async def test_preview_saves_nothing_and_save_keeps_everything_escaped(
    browser: Browser, mailbox: Mailbox, services: Services
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    changed = form(name=f"Quiz {PAYLOAD}", description=PAYLOAD, translations="fr: Quiz Acme",
                   custom_parameters="user=$User.id", contacts="help@quiz.example", resource_link_label=PAYLOAD,
                   resource_link_roles=PAYLOAD, resource_link_custom_parameters=f"p={PAYLOAD}",
                   resource_link_other_placements=PAYLOAD)  # fmt: skip
    preview = await post(browser, owner.slug, {**changed, "action": "preview"})
    assert preview.status_code == 200 and "nothing is saved yet" in preview.text
    assert PAYLOAD not in preview.text and "&#34;client_name&#34;: &#34;Quiz &lt;script&gt;" in preview.text
    tenant = await services.tenants.get_by_slug(owner.slug)
    assert tenant is not None and tenant.name == "Acme Quiz"

    saved = await post(browser, owner.slug, changed)
    assert saved.status_code == 200 and "Saved." in saved.text and PAYLOAD not in saved.text
    tenant = await services.tenants.get_by_slug(owner.slug)
    assert tenant is not None and tenant.name == f"Quiz {PAYLOAD}" and tenant.tool_url == "https://quiz.example/lti"
    configuration = tenant.tool_configuration
    assert configuration["description"] == PAYLOAD and configuration["client_name_translations"] == {"fr": "Quiz Acme"}
    assert configuration["custom_parameters"] == {"user": "$User.id"} and configuration["claims"] == ["sub", "name"]
    assert configuration["scopes"] == ["https://purl.imsglobal.org/spec/lti-ags/scope/score"]
    shown = await browser.get(f"/console/{owner.slug}/tool")
    assert "fr: Quiz Acme" in shown.text and "user=$User.id" in shown.text and PAYLOAD not in shown.text


async def test_each_launch_is_its_own_set_of_fields(browser: Browser, mailbox: Mailbox, services: Services) -> None:
    owner = await signed_in_owner(browser, mailbox)
    shown = await browser.get(f"/console/{owner.slug}/tool")
    offered = re.findall(r'id="(\w+)_offered" name="\w+" value="yes"( checked)?', shown.text)
    assert offered == [("resource_link", " checked"), ("deep_linking", " checked"), ("submission_review", "")]
    assert re.search(r'id="deep_linking_placement_ContentArea"[^>]* checked', shown.text)

    launches = form(
        resource_link_label="Open the quiz", resource_link_icon_uri="https://quiz.example/icon.png",
        resource_link_placements=["ContentArea"], resource_link_other_placements="course_navigation\n\n",
        resource_link_roles="http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
        resource_link_custom_parameters="quiz=$ResourceLink.id\nmode = full",
        deep_linking_offered="yes", deep_linking_label="Add a quiz", deep_linking_placements=["RichTextEditor"],
        submission_review_label="Never sent: this launch is not offered",
    )  # fmt: skip
    saved = await post(browser, owner.slug, launches)
    assert saved.status_code == 200 and "Saved." in saved.text
    tenant = await services.tenants.get_by_slug(owner.slug)
    assert tenant is not None
    assert tenant.tool_configuration["messages"] == [
        {"type": "LtiResourceLinkRequest", "label": "Open the quiz", "icon_uri": "https://quiz.example/icon.png",
         "placements": ["ContentArea", "course_navigation"],
         "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
         "custom_parameters": {"quiz": "$ResourceLink.id", "mode": "full"}},
        {"type": "LtiDeepLinkingRequest", "label": "Add a quiz", "icon_uri": None, "placements": ["RichTextEditor"],
         "roles": [], "custom_parameters": {}},
    ]  # fmt: skip
    again = await browser.get(f"/console/{owner.slug}/tool")
    assert 'value="Open the quiz"' in again.text and "mode=full" in again.text and ">course_navigation<" in again.text
    assert 'id="submission_review_offered" name="submission_review_offered" value="yes">' in again.text


def test_every_launch_a_platform_may_send_has_its_fields() -> None:
    assert {launch.type for launch in LAUNCHES} == lti.LAUNCH_MESSAGE_TYPES
