"""Registration with every platform profile, end to end against that platform's emulator: the review step
submitted with its defaults and with optional items unticked (checking what the platform received), the
requests each platform would refuse (never sent), and used or expired registration tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from sqlalchemy import select

from broker.registration.models import Registration, RegistrationAttempt
from broker.services import Services
from tenants.models import Tenant
from tenants.services import CreatedTenant
from tests.conftest import RunningBroker, unique_slug
from tests.e2e.flow import forms_of, posts_close_message, register
from tests.emulators import EMULATORS, PlatformEmulator

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PRIVACY_LEVEL = "https://canvas.instructure.com/lti/privacy_level"
AGS_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
DEEP_LINKING = "LtiDeepLinkingRequest"
RESOURCE_LINK = "LtiResourceLinkRequest"

# A tool configuration that exercises every adaptation: placements (spec and Canvas forms), message-level
# custom parameters, personal data, and a scope set wider than some platforms offer.
TOOL = {
    "description": "Quizzes for Acme customers",
    "contacts": ["support@acme.example"],
    "client_name_translations": {"fr": "Quiz Acme"},
    "scopes": [
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        AGS_SCORE,
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        NRPS,
    ],
    "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
    "custom_parameters": {"context_id": "$Context.id"},
    "messages": [
        {
            "type": RESOURCE_LINK,
            "label": "Acme Quiz",
            "placements": ["course_navigation", "https://canvas.instructure.com/lti/assignment_menu"],
            "custom_parameters": {"placement": "course"},
        },
        {"type": DEEP_LINKING, "label": "Add an Acme quiz", "placements": ["ContentArea", "RichTextEditor"]},
    ],
}


def registration_url(broker: RunningBroker, created: CreatedTenant) -> str:
    return broker.url(f"/t/{created.tenant.slug}/lti/register")


async def new_tenant(services: Services, **settings: Any) -> CreatedTenant:
    created = await services.tenants.create(unique_slug("plat"), "Acme Quiz", tool_configuration=TOOL)
    if settings:
        await services.tenants.update(created.tenant.id, settings)
    return created


async def store_raw_tool_configuration(services: Services, created: CreatedTenant, data: dict[str, Any]) -> None:
    """A configuration saved before today's rules existed: written past the validation, as old data is."""
    async with services.database.transaction() as session:
        tenant = await session.get(Tenant, created.tenant.id)
        assert tenant is not None
        tenant.tool_configuration = data


async def stored(services: Services, created: CreatedTenant) -> tuple[list[Registration], list[RegistrationAttempt]]:
    async with services.database.session() as session:
        registrations = (
            await session.scalars(select(Registration).where(Registration.tenant_id == created.tenant.id))
        ).all()
        attempts = (
            await session.scalars(
                select(RegistrationAttempt)
                .where(RegistrationAttempt.tenant_id == created.tenant.id)
                .order_by(RegistrationAttempt.id)
            )
        ).all()
    return list(registrations), list(attempts)


async def submit_review(
    http: httpx.AsyncClient, page: httpx.Response, unticked: set[str] = frozenset()
) -> httpx.Response:
    """Submit the review form as the admin would, with the `unticked` checkboxes cleared."""
    (form,) = forms_of(page.text)
    fields = {name: value for name, value in form.fields.items() if name not in unticked}
    return await http.post(urljoin(str(page.url), form.action), data=fields)


async def api_items(http: httpx.AsyncClient, broker: RunningBroker, created: CreatedTenant) -> list[dict[str, Any]]:
    listing = await http.get(
        broker.url("/api/v1/registrations"), headers={"Authorization": f"Bearer {created.api_key}"}
    )
    assert listing.status_code == 200, listing.text
    return listing.json()["items"]


def received(platform: PlatformEmulator) -> dict[str, Any]:
    (request,) = platform.registration_requests
    assert isinstance(request.json, dict)
    return request.json


def messages_of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {message["type"]: message for message in body[TOOL_CONFIGURATION]["messages"]}


# ---------------------------------------------------------------------------------------------------------------
# What each platform must have received with the review's defaults (the profile's adaptations).


def expect_generic(body: dict[str, Any], platform: PlatformEmulator) -> None:
    assert PRIVACY_LEVEL not in body[TOOL_CONFIGURATION]
    # The strict platform lists ContentArea and RichTextEditor only; Canvas's placements are left out.
    assert messages_of(body)[DEEP_LINKING]["placements"] == ["ContentArea", "RichTextEditor"]
    assert "placements" not in messages_of(body)[RESOURCE_LINK]


def expect_moodle(body: dict[str, Any], platform: PlatformEmulator) -> None:
    configuration = body[TOOL_CONFIGURATION]
    # Moodle keeps only the last deep-linking message and the tool-level custom parameters.
    assert configuration["messages"][-1]["type"] == DEEP_LINKING
    assert configuration["messages"][-1]["target_link_uri"] == configuration["target_link_uri"]
    assert configuration["custom_parameters"] == {"context_id": "$Context.id", "placement": "course"}
    assert all(
        "placements" not in message and "custom_parameters" not in message for message in configuration["messages"]
    )
    assert platform.registration_requests[0].authorization.startswith("Bearer ")


def expect_canvas(body: dict[str, Any], platform: PlatformEmulator) -> None:
    configuration = body[TOOL_CONFIGURATION]
    assert configuration[PRIVACY_LEVEL] == "public"
    assert "openid" not in body["scope"].split()
    assert messages_of(body)[RESOURCE_LINK]["placements"] == [
        "course_navigation",
        "https://canvas.instructure.com/lti/assignment_menu",
    ]
    # RichTextEditor is Canvas's editor_button, offered for deep linking only.
    assert messages_of(body)[DEEP_LINKING]["placements"] == ["ContentArea", "RichTextEditor"]
    assert platform.registration_requests[0].host != platform.configuration_requests[0].host


def expect_blackboard(body: dict[str, Any], platform: PlatformEmulator) -> None:
    assert platform.registration_requests[0].authorization is None
    assert platform.registration_requests[0].query["registrationToken"]
    assert NRPS not in body["scope"].split(), "the portal does not list NRPS"


def expect_brightspace(body: dict[str, Any], platform: PlatformEmulator) -> None:
    assert platform.registration_requests[0].authorization is None
    assert platform.configuration_requests[0].authorization is None
    assert PRIVACY_LEVEL not in body[TOOL_CONFIGURATION]


def expect_sakai(body: dict[str, Any], platform: PlatformEmulator) -> None:
    # Sakai lists only openid, yet grants the AGS and NRPS scopes by the tool entry's settings.
    assert set(body["scope"].split()) == set(TOOL["scopes"])
    assert platform.registration_requests[0].authorization.startswith("Bearer ")


EXPECTATIONS: dict[str, Callable[[dict[str, Any], PlatformEmulator], None]] = {
    "generic": expect_generic,
    "moodle": expect_moodle,
    "canvas": expect_canvas,
    "blackboard": expect_blackboard,
    "brightspace": expect_brightspace,
    "sakai": expect_sakai,
    "schoology": expect_generic,
}
TITLES = {
    "generic": "LTI Dynamic Registration platform",
    "moodle": "Moodle",
    "canvas": "Canvas",
    "blackboard": "Blackboard Learn",
    "brightspace": "D2L Brightspace",
    "sakai": "Sakai",
    "schoology": "Schoology",
}


@pytest.mark.parametrize("name", list(EMULATORS))
async def test_each_platform_registers_with_the_review_defaults(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, name: str
) -> None:
    created = await new_tenant(services)
    with EMULATORS[name].running() as platform:
        outcome = await register(http, registration_url(broker, created), platform)
        review, done = outcome.first_page, outcome.last_page
        assert review.status_code == 200, review.text
        assert TITLES[name] in review.text and not posts_close_message(review.text)
        assert done.status_code == 200, done.text
        assert posts_close_message(done.text)
        body = received(platform)
        EXPECTATIONS[name](body, platform)
        assert len(platform.registrations) == 1

    assert body["client_name"] == "Acme Quiz" and body["client_name#fr"] == "Quiz Acme"
    assert body[TOOL_CONFIGURATION]["domain"] == broker.base_url.removeprefix("http://")
    listing = await http.get(
        broker.url("/api/v1/registrations"), headers={"Authorization": f"Bearer {created.api_key}"}
    )
    (item,) = listing.json()["items"]
    assert item["platform_profile"] == name
    assert item["client_id"] == platform.registrations[0]["client_id"]


async def test_canvas_installs_both_launches_of_the_default_tool_configuration(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("plat"), "Acme Quiz")
    with EMULATORS["canvas"].running() as platform:
        outcome = await register(http, registration_url(broker, created), platform)
        assert outcome.last_page.status_code == 200, outcome.last_page.text
        (installed,) = platform.installed_placements.values()
    assert installed["link_selection"] == DEEP_LINKING, "the module picker opens the tool's Deep Linking"
    assert RESOURCE_LINK in installed.values(), "the plain launch keeps a placement of its own"


async def test_a_tool_without_service_scopes_registers_with_a_canvas_that_splits_scope(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await new_tenant(services, tool_configuration={**TOOL, "scopes": []})
    with EMULATORS["canvas"].running(split_scope=True) as platform:
        outcome = await register(http, registration_url(broker, created), platform)
        assert outcome.last_page.status_code == 200, outcome.last_page.text
        assert received(platform)["scope"] == ""
    (item,) = await api_items(http, broker, created)
    assert item["scopes_missing"] == []


async def test_blackboard_is_stored_with_its_launch_issuer_and_the_override_is_recorded(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await new_tenant(services)
    with EMULATORS["blackboard"].running() as platform:
        outcome = await register(http, registration_url(broker, created), platform)
        assert outcome.last_page.status_code == 200, outcome.last_page.text
    listing = await http.get(
        broker.url("/api/v1/registrations"), headers={"Authorization": f"Bearer {created.api_key}"}
    )
    (item,) = listing.json()["items"]
    assert item["issuer"] == "https://blackboard.com"
    assert any(note.startswith("issuer stored as https://blackboard.com") for note in item["adaptations"])
    assert "registrationToken=[redacted]" in item["registration_endpoint"]
    assert item["deployment_ids"] == [], "the portal answers without a deployment_id"


@pytest.mark.parametrize("name", list(EMULATORS))
async def test_unticked_review_items_are_left_out_of_what_the_platform_receives(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, name: str
) -> None:
    created = await new_tenant(services)
    wanted = {f"scope:{AGS_SCORE}", "claim:email", f"placement:{DEEP_LINKING}:ContentArea"}
    with EMULATORS[name].running() as platform:
        review = await http.get(platform.initiation_url(registration_url(broker, created)))
        (form,) = forms_of(review.text)
        assert set(form.optional) == set(form.fields) - {"state"}, "every optional item is ticked by default"
        unticked = wanted & set(form.optional)
        assert f"scope:{AGS_SCORE}" in unticked and "claim:email" in unticked
        done = await submit_review(http, review, unticked)
        assert done.status_code == 200, done.text
        body = received(platform)

    assert AGS_SCORE not in body.get("scope", "").split()
    assert "email" not in body[TOOL_CONFIGURATION]["claims"]
    assert "name" in body[TOOL_CONFIGURATION]["claims"]
    placements = messages_of(body)[DEEP_LINKING].get("placements", [])
    assert "ContentArea" not in placements
    if name == "canvas":
        assert body[TOOL_CONFIGURATION][PRIVACY_LEVEL] == "name_only", "no e-mail left: name only"
    (registration,), _ = await stored(services, created)
    assert "left out at the review: claim:email" in (registration.adaptations or [])


async def test_unticking_a_message_leaves_it_and_its_placements_out(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await new_tenant(services)
    with EMULATORS["generic"].running() as platform:
        review = await http.get(platform.initiation_url(registration_url(broker, created)))
        done = await submit_review(http, review, {f"message:{DEEP_LINKING}"})
        assert done.status_code == 200, done.text
        assert list(messages_of(received(platform))) == [RESOURCE_LINK]


async def test_unticking_every_message_sends_nothing(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await new_tenant(services)
    with EMULATORS["generic"].running() as platform:
        review = await http.get(platform.initiation_url(registration_url(broker, created)))
        page = await submit_review(http, review, {f"message:{DEEP_LINKING}", f"message:{RESOURCE_LINK}"})
        assert page.status_code == 400 and "no kind of launch is left" in page.text
        assert platform.registration_requests == []


async def test_a_forged_review_item_cannot_add_to_the_registration(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await new_tenant(services, tool_configuration={**TOOL, "scopes": [AGS_SCORE]})
    with EMULATORS["generic"].running() as platform:
        review = await http.get(platform.initiation_url(registration_url(broker, created)))
        (form,) = forms_of(review.text)
        extra = {f"scope:{NRPS}": "1", "claim:picture": "1"}
        done = await http.post(urljoin(str(review.url), form.action), data={**form.fields, **extra})
        assert done.status_code == 200, done.text
        body = received(platform)
    assert body["scope"] == AGS_SCORE
    assert "picture" not in body[TOOL_CONFIGURATION]["claims"]


# ---------------------------------------------------------------------------------------------------------------
# Requests a platform would refuse: a clear page, and nothing reaches the platform.

NEVER_SENT = [
    pytest.param(
        "generic",
        {"platform_config_patch": {"messages_supported": [{"type": "LtiSubmissionReviewRequest"}]}},
        None,
        "no kind of launch is left",
        id="generic-offers-none-of-the-messages",
    ),
    pytest.param(
        "schoology",
        {},
        {**TOOL, "custom_parameters": {"grade": 42}},
        "custom_parameters.grade",
        id="schoology-stored-configuration-with-a-number",
    ),
    pytest.param(
        "canvas",
        {},
        {**TOOL, "custom_parameters": {"retries": 3}},
        "custom_parameters.retries",
        id="canvas-non-string-custom-parameter",
    ),
    pytest.param(
        "canvas",
        {"platform_config_patch": {"messages_supported": [{"type": RESOURCE_LINK}, {"type": DEEP_LINKING}]}},
        {**TOOL, "messages": [{"type": RESOURCE_LINK, "placements": ["course_navigaton"]}]},
        "Canvas does not know the placement course_navigaton",
        id="canvas-unknown-placement",
    ),
    pytest.param(
        "canvas",
        {"sends_registration_token": False},
        None,
        "Canvas accepts a registration only with the registration_token",
        id="canvas-no-registration-token",
    ),
    pytest.param(
        "moodle",
        {"sends_registration_token": False},
        None,
        "Moodle accepts a registration only with the registration_token",
        id="moodle-no-registration-token",
    ),
    pytest.param(
        "sakai",
        {"sends_registration_token": False},
        None,
        "Sakai accepts a registration only with the registration_token",
        id="sakai-no-registration-token",
    ),
    pytest.param(
        "brightspace",
        {},
        {**TOOL, "logo_uri": "http://cdn.acme.example/logo.png"},
        "Brightspace accepts https URLs only, not http://cdn.acme.example/logo.png",
        id="brightspace-http-logo",
    ),
]


@pytest.mark.parametrize(("name", "knobs", "tool_configuration", "shown"), NEVER_SENT)
async def test_a_request_the_platform_would_refuse_is_never_sent(
    http: httpx.AsyncClient,
    broker: RunningBroker,
    services: Services,
    name: str,
    knobs: dict[str, Any],
    tool_configuration: dict[str, Any] | None,
    shown: str,
) -> None:
    created = await new_tenant(services)
    if tool_configuration is not None:
        await store_raw_tool_configuration(services, created, tool_configuration)
    with EMULATORS[name].running(**knobs) as platform:
        page = await http.get(platform.initiation_url(registration_url(broker, created)))
        assert platform.registration_requests == []
    assert page.status_code == 400, page.text
    assert shown in page.text
    assert "Nothing was sent to your platform" in page.text and not posts_close_message(page.text)
    registrations, attempts = await stored(services, created)
    assert registrations == [] and [attempt.status for attempt in attempts] == ["failed"]
    assert attempts[0].id in page.text


async def test_blackboard_endpoint_without_its_token_is_never_sent(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await new_tenant(services)
    with EMULATORS["blackboard"].running() as platform:
        bare_endpoint = platform.base_url + platform.registration_path
        platform.config_patch = {"registration_endpoint": bare_endpoint}
        page = await http.get(platform.initiation_url(registration_url(broker, created)))
        assert platform.registration_requests == []
    assert page.status_code == 400, page.text
    assert "registrationToken" in page.text


async def test_moodle_messages_keep_what_moodle_keeps_with_one_click(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await new_tenant(services, review_registrations=False, activation_policy="pending")
    with EMULATORS["moodle"].running() as platform:
        page = await http.get(platform.initiation_url(registration_url(broker, created)))
        assert page.status_code == 200, page.text
        assert posts_close_message(page.text) and "Pending" in page.text
        answer = platform.registrations[0][TOOL_CONFIGURATION]
    assert answer["messages"] == [
        {"type": DEEP_LINKING, "target_link_uri": received(platform)[TOOL_CONFIGURATION]["target_link_uri"]}
    ]
    (registration,), _ = await stored(services, created)
    assert registration.status == "pending"
    assert registration.deployments[0].deployment_id == answer["deployment_id"]


# ---------------------------------------------------------------------------------------------------------------
# Used or expired registration tokens: a page that sends the admin back to the LMS.

TOKENS = [
    pytest.param("generic", "expired", 502, "no longer accepts", id="generic-expired"),
    pytest.param("schoology", "expired", 502, "no longer accepts", id="schoology-expired"),
    pytest.param("moodle", "used", 502, "already used", id="moodle-used"),
    pytest.param("moodle", "expired", 502, "registration token has expired", id="moodle-expired"),
    pytest.param("canvas", "expired", 502, "Canvas registration tokens last an hour", id="canvas-expired"),
    pytest.param("sakai", "expired", 502, "works once, for an hour", id="sakai-expired"),
    pytest.param("sakai", "used", 502, "works once, for an hour", id="sakai-used"),
    pytest.param("brightspace", "expired", 502, "work once, for an hour", id="brightspace-expired"),
    pytest.param("brightspace", "used", 502, "no longer accepts", id="brightspace-used"),
    pytest.param("blackboard", "used", 502, "Developer Portal", id="blackboard-used"),
]


@pytest.mark.parametrize(("name", "mode", "status", "shown"), TOKENS)
async def test_a_used_or_expired_registration_token_sends_the_admin_back_to_the_lms(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, name: str, mode: str, status: int, shown: str
) -> None:
    created = await new_tenant(services)
    with EMULATORS[name].running() as platform:
        initiation = platform.initiation_url(registration_url(broker, created))
        if mode == "used":
            first = await submit_review(http, await http.get(initiation))
            assert first.status_code == 200, first.text
            page = await http.get(initiation)
            if page.status_code == 200:  # the configuration is public: the platform refuses at the POST
                page = await submit_review(http, page)
        else:
            review = await http.get(initiation)
            assert review.status_code == 200, review.text
            platform.advance_clock(3601)
            page = await submit_review(http, review)
        posts = len(platform.registrations)
    assert page.status_code == status, page.text
    assert shown in page.text
    assert "again" in page.text and not posts_close_message(page.text)
    registrations, attempts = await stored(services, created)
    assert len(registrations) == posts == (1 if mode == "used" else 0)
    assert attempts[-1].status == "failed"
