"""Preparing a request: the platform's profile adapts and checks it; an answer is read as the profile says."""

from __future__ import annotations

import json

import pytest

from broker.lti import AGS_SCORE, DEEP_LINKING_REQUEST
from broker.registration import errors
from broker.registration.preparation import read_answer, read_tool_configuration
from tenants.tool_configuration import MessageConfiguration, ToolConfiguration
from tests.broker.registration.profiles.helpers import platform_of, prepare


def test_a_broken_stored_tool_configuration_is_a_page_naming_the_field() -> None:
    with pytest.raises(errors.ToolConfigurationInvalidError) as raised:
        read_tool_configuration({"custom_parameters": {"attempts": 3}})
    assert raised.value.field == "tool_configuration.custom_parameters.attempts"


def test_a_tool_configuration_read_before_gives_what_it_says_now() -> None:
    """Each step reads the tenant's configuration; one read before is remembered by its content, never by whose."""
    assert read_tool_configuration({"description": "First"}).description == "First"
    assert read_tool_configuration({"description": "Changed"}).description == "Changed"
    assert read_tool_configuration({"description": "First"}).description == "First"
    assert read_tool_configuration({"scopes": []}).scopes == ()
    assert read_tool_configuration({}).scopes == ToolConfiguration().scopes
    for _ in range(2):  # a broken one is refused each time
        with pytest.raises(errors.ToolConfigurationInvalidError):
            read_tool_configuration({"custom_parameters": {"attempts": 3}})


def test_nothing_left_to_launch_is_never_sent() -> None:
    tool = ToolConfiguration(messages=(MessageConfiguration(type="LtiSubmissionReviewRequest"),))
    with pytest.raises(errors.RequestNotSentError, match="no kind of launch is left"):
        prepare(platform_of("moodle"), tool)


def test_review_choices_narrow_the_request_and_are_noted() -> None:
    included = frozenset({f"message:{DEEP_LINKING_REQUEST}", "claim:name"})
    prepared = prepare(platform_of("sakai"), included=included)
    configuration = prepared.request["https://purl.imsglobal.org/spec/lti-tool-configuration"]
    assert [message["type"] for message in configuration["messages"]] == [DEEP_LINKING_REQUEST]
    assert prepared.request["scope"] == ""
    assert configuration["claims"] == ["iss", "sub", "name"]
    assert "left out at the review: claim:email" in prepared.notes


@pytest.mark.parametrize(("platform", "granted"), [("canvas", ()), ("moodle", ()), ("sakai", None)])
def test_an_answer_without_scope_is_read_as_the_profile_says(platform: str, granted: tuple[str, ...] | None) -> None:
    prepared = prepare(platform_of(platform), ToolConfiguration(scopes=(AGS_SCORE,)))
    result = read_answer(prepared, 200, json.dumps({"client_id": "c"}).encode())
    assert result.scopes_granted == granted


def test_canvas_s_echoed_openid_is_not_a_granted_service() -> None:
    prepared = prepare(platform_of("canvas"))
    result = read_answer(prepared, 200, json.dumps({"client_id": "c", "scope": f"{AGS_SCORE} openid"}).encode())
    assert result.scopes_granted == (AGS_SCORE,)
