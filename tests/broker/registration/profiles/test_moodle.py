"""Moodle: the old releases' missing authorization endpoint, what Moodle keeps, and its narrow checks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from broker.lti import DEEP_LINKING_REQUEST, RESOURCE_LINK_REQUEST, TOOL_CONFIGURATION_KEY
from broker.registration import errors
from broker.registration.platform_configuration import PlatformConfigurationError
from broker.registration.profiles import moodle
from tenants.tool_configuration import MessageConfiguration, ToolConfiguration
from tests.broker.registration.profiles.helpers import ENDPOINTS, context, fixture, platform_of, prepare, read

KEY = "https://purl.imsglobal.org/spec/lti-platform-configuration"
URL = "https://school.edu/moodle/mod/lti/openid-configuration.php"


def moodle_310_document() -> dict:
    """Moodle 3.10: no authorization_endpoint, a typo'd message type, the platform key with a trailing space."""
    document = fixture("moodle")
    del document["authorization_endpoint"]
    document["issuer"] = "https://school.edu/moodle"
    platform = document.pop(KEY)
    platform["messages_supported"] = ["LtiResourceLink", "LtiDeepLinkingRequest"]
    document[KEY + " "] = platform
    return document


def test_old_moodle_gets_the_fixed_authorization_endpoint_and_a_note() -> None:
    platform = read(moodle_310_document(), URL)
    assert platform.profile == "moodle"
    assert platform.authorization_endpoint == "https://school.edu/moodle/mod/lti/auth.php"
    assert any("authorization_endpoint was missing" in note for note in platform.adaptations)


def test_a_published_authorization_endpoint_is_kept() -> None:
    platform = platform_of("moodle")
    assert platform.authorization_endpoint == "https://moodle.example.edu/mod/lti/auth.php"
    assert platform.adaptations == ()


def test_the_fallback_is_moodles_only() -> None:
    document = moodle_310_document()
    document[KEY + " "]["product_family_code"] = "ilias"
    with pytest.raises(PlatformConfigurationError, match="authorization_endpoint"):
        read(document, URL)


def tool_with_message_custom_parameters() -> ToolConfiguration:
    return ToolConfiguration(
        custom_parameters={"context": "$Context.id"},
        messages=(
            MessageConfiguration(
                type=DEEP_LINKING_REQUEST, placements=("ContentArea",), custom_parameters={"mode": "pick"}
            ),
            MessageConfiguration(
                type=RESOURCE_LINK_REQUEST, custom_parameters={"mode": "view", "course": "$Context.title"}
            ),
        ),
    )


def test_moodle_gets_one_deep_linking_message_last_and_tool_level_custom_parameters() -> None:
    prepared = prepare(platform_of("moodle"), tool_with_message_custom_parameters())
    configuration = prepared.request[TOOL_CONFIGURATION_KEY]
    assert [message["type"] for message in configuration["messages"]] == [RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST]
    assert configuration["messages"][-1]["target_link_uri"] == ENDPOINTS.target_link_uri
    assert configuration["custom_parameters"] == {"context": "$Context.id", "mode": "pick", "course": "$Context.title"}
    assert all("custom_parameters" not in m and "placements" not in m for m in configuration["messages"])
    assert any("mode: Moodle keeps one value" in note for note in prepared.notes)
    assert prepared.plan.unavailable_placements == ((DEEP_LINKING_REQUEST, "ContentArea"),)


def test_values_moodle_would_cut_short_are_noted() -> None:
    tool = ToolConfiguration(custom_parameters={"query": "a=b"})
    notes = prepare(platform_of("moodle"), tool).notes
    assert any("query: Moodle keeps its value only up to the first '='" in note for note in notes)


@pytest.mark.parametrize(
    ("domain", "target", "matches"),
    [
        ("lti.example.com", "https://lti.example.com/t/acme/lti/launch", True),
        ("www.lti.example.com", "https://lti.example.com/launch", True),
        ("lti.example.com:8443", "https://lti.example.com:8443/launch", True),
        ("lti.example.com", "https://lti.example.com:8443/launch", False),
        ("lti.example.com", "https://other.example.com/launch", False),
        ("acme.lti.example.com", "https://lti.example.com/launch", False),
    ],
)
def test_domain_must_be_the_host_of_target_link_uri(domain: str, target: str, matches: bool) -> None:
    request = prepare(platform_of("moodle")).request
    request[TOOL_CONFIGURATION_KEY].update(domain=domain, target_link_uri=target)
    problems = moodle.check_request(request, context(platform_of("moodle")))
    assert (problems == ()) is matches
    if not matches:
        assert "Moodle requires it to equal the host of target_link_uri" in problems[0].reason


def test_a_domain_mismatch_is_never_sent() -> None:
    endpoints = replace(ENDPOINTS, domain="tools.example.com")
    with pytest.raises(errors.RequestNotSentError) as raised:
        prepare(platform_of("moodle"), endpoints=endpoints)
    assert raised.value.field == f"{TOOL_CONFIGURATION_KEY}.domain"
    assert "Moodle would refuse this registration" in raised.value.detail


def test_php_empty_values_count_as_missing() -> None:
    request = prepare(platform_of("moodle")).request
    request["client_name"] = "0"
    problems = moodle.check_request(request, context(platform_of("moodle")))
    assert [(p.field, p.reason) for p in problems] == [("client_name", "Moodle treats an empty value as missing")]


def test_moodle_needs_the_registration_token() -> None:
    with pytest.raises(errors.RequestNotSentError, match="registration_token"):
        prepare(platform_of("moodle"), token=False)


def test_refusals_are_explained_in_moodles_terms() -> None:
    assert "already used" in (moodle.explain_refusal(401, "token_already_used") or "")
    assert "expired" in (moodle.explain_refusal(500, "Exception") or "")
    assert moodle.explain_refusal(400, "missing_domain") is None
