"""Canvas: allow-listed placements and scopes, string-only custom parameters, and its privacy level."""

from __future__ import annotations

import copy

import pytest

from broker.lti import AGS_SCORE, DEEP_LINKING_REQUEST, NRPS_MEMBERSHIPS, RESOURCE_LINK_REQUEST, TOOL_CONFIGURATION_KEY
from broker.registration import errors
from broker.registration.profiles import canvas
from tenants.tool_configuration import MessageConfiguration, ToolConfiguration
from tests.broker.registration.profiles.helpers import CONFIGURATION_URLS, context, fixture, platform_of, prepare, read

PLATFORM = platform_of("canvas")
KEY = "https://purl.imsglobal.org/spec/lti-platform-configuration"


def test_offer_adds_prefixed_and_spec_placement_names_and_never_openid() -> None:
    document = fixture("canvas")
    document["scopes_supported"].append("openid")
    offer = canvas.offer(read(document, CONFIGURATION_URLS["canvas"]))
    assert "openid" not in (offer.scopes or ())
    resource_link = offer.placements_for(RESOURCE_LINK_REQUEST) or frozenset()
    deep_linking = offer.placements_for(DEEP_LINKING_REQUEST) or frozenset()
    assert {"course_navigation", canvas.CANVAS_LTI + "course_navigation", "ContentArea"} <= resource_link
    assert "RichTextEditor" not in resource_link and "RichTextEditor" in deep_linking


def test_without_a_scope_list_canvas_s_own_list_is_offered() -> None:
    document = fixture("canvas")
    del document["scopes_supported"]
    offer = canvas.offer(read(document, CONFIGURATION_URLS["canvas"]))
    assert set(offer.scopes or ()) == canvas.SCOPES


@pytest.mark.parametrize(
    ("claims", "level"),
    [
        (("iss", "sub", "name", "email"), "public"),
        (("sub", "picture"), "public"),
        (("sub", "given_name"), "name_only"),
        (("sub", "email"), "email_only"),
        (("iss", "sub"), "anonymous"),
    ],
)
def test_privacy_level_follows_the_claims_as_canvas_infers_it(claims: tuple[str, ...], level: str) -> None:
    assert canvas.privacy_level(claims) == level
    prepared = prepare(PLATFORM, ToolConfiguration(claims=claims))
    assert prepared.request[TOOL_CONFIGURATION_KEY][canvas.PRIVACY_LEVEL] == level


def test_a_default_request_passes_canvas_s_rules() -> None:
    request = prepare(PLATFORM).request
    assert canvas.check_request(request, context(PLATFORM)) == ()
    assert "openid" not in request["scope"]


def _problems(change: dict, *, where: str = "tool") -> list[str]:
    request = copy.deepcopy(prepare(PLATFORM).request)
    (request[TOOL_CONFIGURATION_KEY] if where == "tool" else request).update(change)
    return [f"{p.field}: {p.reason}" for p in canvas.check_request(request, context(PLATFORM))]


def test_non_string_custom_parameters_are_refused_at_both_levels() -> None:
    assert _problems({"custom_parameters": {"attempts": 3}}) == [
        f"{TOOL_CONFIGURATION_KEY}.custom_parameters: values must be strings"
    ]
    request = copy.deepcopy(prepare(PLATFORM).request)
    request[TOOL_CONFIGURATION_KEY]["messages"][0]["custom_parameters"] = {"flag": True}
    fields = [p.field for p in canvas.check_request(request, context(PLATFORM))]
    assert fields == [f"{TOOL_CONFIGURATION_KEY}.messages[0].custom_parameters"]


def test_unknown_placements_and_message_types_are_refused() -> None:
    request = copy.deepcopy(prepare(PLATFORM).request)
    request[TOOL_CONFIGURATION_KEY]["messages"][0]["placements"] = ["course_navigation", "AddContentMenu"]
    (problem,) = canvas.check_request(request, context(PLATFORM))
    assert problem.reason == "Canvas does not know the placement AddContentMenu"


@pytest.mark.parametrize(
    ("scope", "shown"),
    [
        ("https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting", "outside its list"),
        (f"openid {AGS_SCORE}", "without openid"),
    ],
)
def test_scopes_outside_canvas_s_list_are_refused(scope: str, shown: str) -> None:
    assert any(shown in problem for problem in _problems({"scope": scope}, where="top"))


@pytest.mark.parametrize("domain", ["[::1]:8000", "user@lti.example.com", "lti.example.com/path", "lti_example.com"])
def test_domain_must_be_a_host_name_with_an_optional_port(domain: str) -> None:
    assert any("host name with an optional port" in problem for problem in _problems({"domain": domain}))


def test_contacts_must_be_e_mail_addresses() -> None:
    assert _problems({"contacts": ["support"]}, where="top") == [
        "contacts: Canvas accepts e-mail addresses only, not 'support'"
    ]


def test_a_placement_canvas_does_not_offer_for_a_message_is_left_out_not_sent() -> None:
    tool = ToolConfiguration(
        messages=(MessageConfiguration(type=DEEP_LINKING_REQUEST, placements=("course_navigation", "editor_button")),)
    )
    prepared = prepare(PLATFORM, tool)
    (message,) = prepared.request[TOOL_CONFIGURATION_KEY]["messages"]
    assert message["placements"] == ["editor_button"]
    assert prepared.plan.unavailable_placements == ((DEEP_LINKING_REQUEST, "course_navigation"),)


def test_an_unknown_placement_is_never_sent_where_canvas_lists_no_placements() -> None:
    document = fixture("canvas")
    document[KEY]["messages_supported"] = [{"type": RESOURCE_LINK_REQUEST}, {"type": DEEP_LINKING_REQUEST}]
    platform = read(document, CONFIGURATION_URLS["canvas"])
    tool = ToolConfiguration(messages=(MessageConfiguration(type=RESOURCE_LINK_REQUEST, placements=("course_nav",)),))
    with pytest.raises(errors.RequestNotSentError, match="Canvas does not know the placement course_nav"):
        prepare(platform, tool)


def test_canvas_needs_the_registration_token_and_explains_refusals() -> None:
    with pytest.raises(errors.RequestNotSentError, match="registration_token"):
        prepare(PLATFORM, token=False)
    assert "an hour" in (canvas.explain_refusal(401, "JWT did not include expected contents") or "")
    assert "vendor" in (canvas.explain_refusal(422, "{}") or "")


def test_nrps_and_ags_are_asked_for_when_canvas_lists_them() -> None:
    assert set(prepare(PLATFORM).plan.scopes) >= {AGS_SCORE, NRPS_MEMBERSHIPS}


def _messages(*messages: MessageConfiguration) -> dict[str, dict]:
    request = prepare(PLATFORM, ToolConfiguration(messages=messages)).request
    return {message["type"]: message for message in request[TOOL_CONFIGURATION_KEY]["messages"]}


@pytest.mark.parametrize("deep_linking_placements", [(), ("ContentArea",), ("link_selection",)])
def test_a_resource_link_without_placements_leaves_link_selection_to_deep_linking(
    deep_linking_placements: tuple[str, ...],
) -> None:
    sent = _messages(
        MessageConfiguration(type=RESOURCE_LINK_REQUEST),
        MessageConfiguration(type=DEEP_LINKING_REQUEST, placements=deep_linking_placements),
    )
    assert sent[RESOURCE_LINK_REQUEST]["placements"] == ["course_navigation"]
    assert sent[RESOURCE_LINK_REQUEST][canvas.COURSE_NAVIGATION_DEFAULT_ENABLED] is False
    assert sent[DEEP_LINKING_REQUEST].get("placements", []) == list(deep_linking_placements)


def test_a_resource_link_keeps_link_selection_when_nothing_else_wants_it() -> None:
    alone = _messages(MessageConfiguration(type=RESOURCE_LINK_REQUEST))
    beside_the_editor = _messages(
        MessageConfiguration(type=RESOURCE_LINK_REQUEST),
        MessageConfiguration(type=DEEP_LINKING_REQUEST, placements=("RichTextEditor",)),
    )
    assert "placements" not in alone[RESOURCE_LINK_REQUEST]
    assert "placements" not in beside_the_editor[RESOURCE_LINK_REQUEST]


def test_client_assertion_audience_is_the_token_endpoint_not_the_bare_host_published() -> None:
    token_url = "https://sso.canvaslms.com/login/oauth2/token"
    assert canvas.client_assertion_audience(token_url, "sso.canvaslms.com") == token_url
