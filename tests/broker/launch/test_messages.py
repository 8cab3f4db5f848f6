from typing import Any

import pytest

from broker.launch.messages import LaunchMessage, LtiMessageError, check_lti_message
from broker.lti import (
    DEEP_LINKING_SETTINGS,
    DEPLOYMENT_ID,
    MESSAGE_TYPE,
    RESOURCE_LINK,
    ROLES,
    TARGET_LINK_URI,
    VERSION,
)

TARGET = "https://broker.example.com/t/acme/tool"


def check(claims: dict[str, Any], **login: Any) -> LaunchMessage:
    options = {"login_target_link_uri": TARGET, "login_deployment_id": None} | login
    return check_lti_message(claims, **options)


def refused_claim(claims: dict[str, Any], **login: Any) -> str:
    with pytest.raises(LtiMessageError) as caught:
        check(claims, **login)
    return caught.value.field


def without(claims: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k != name}


def test_resource_link_launch(id_token_claims):
    message = check(id_token_claims, login_deployment_id="dep-1")
    assert message == LaunchMessage(
        message_type="LtiResourceLinkRequest",
        version="1.3.0",
        deployment_id="dep-1",
        target_link_uri=TARGET,
        resource_link_id="rl-7",
        deep_link_return_url=None,
        subject="user-42",
        roles=("http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",),
    )


def test_anonymous_launch_with_no_roles_is_accepted(id_token_claims):
    message = check(without(id_token_claims, "sub") | {ROLES: []})
    assert (message.subject, message.roles) == (None, ())


def test_submission_review_launch_is_accepted(id_token_claims):
    message = check(id_token_claims | {MESSAGE_TYPE: "LtiSubmissionReviewRequest"})
    assert message.resource_link_id == "rl-7"


def test_deep_linking_request(deep_linking_claims):
    message = check(without(without(deep_linking_claims, TARGET_LINK_URI), ROLES), login_target_link_uri=None)
    assert message.message_type == "LtiDeepLinkingRequest"
    assert message.deep_link_return_url == "https://lms.example.edu/deep_link_return?course=9"
    assert (message.resource_link_id, message.target_link_uri, message.roles) == (None, None, ())


@pytest.mark.parametrize(
    ("changes", "claim"),
    [
        ({MESSAGE_TYPE: "LtiStartProctoring"}, MESSAGE_TYPE),
        ({MESSAGE_TYPE: "basic-lti-launch-request"}, MESSAGE_TYPE),
        ({MESSAGE_TYPE: None}, MESSAGE_TYPE),
        ({VERSION: "1.1"}, VERSION),
        ({VERSION: None}, VERSION),
        ({DEPLOYMENT_ID: None}, DEPLOYMENT_ID),
        ({DEPLOYMENT_ID: ""}, DEPLOYMENT_ID),
        ({DEPLOYMENT_ID: "d" * 256}, DEPLOYMENT_ID),
        ({DEPLOYMENT_ID: "dép-1"}, DEPLOYMENT_ID),
        ({TARGET_LINK_URI: None}, TARGET_LINK_URI),
        ({TARGET_LINK_URI: TARGET + "/elsewhere"}, TARGET_LINK_URI),
        ({RESOURCE_LINK: None}, RESOURCE_LINK),
        ({RESOURCE_LINK: {"title": "no id"}}, RESOURCE_LINK + ".id"),
        ({ROLES: None}, ROLES),
        ({ROLES: "Learner"}, ROLES),
        ({ROLES: ["Learner", 7]}, ROLES),
        ({"sub": "u" * 256}, "sub"),
        ({"sub": ""}, "sub"),
    ],
)
def test_resource_link_refusals(id_token_claims, changes, claim):
    claims = {k: v for k, v in (id_token_claims | changes).items() if v is not None}
    assert refused_claim(claims) == claim


def test_deployment_must_match_the_login(id_token_claims):
    assert refused_claim(id_token_claims, login_deployment_id="dep-2") == DEPLOYMENT_ID


def test_deployment_id_compares_case_sensitively(id_token_claims):
    assert refused_claim(id_token_claims, login_deployment_id="DEP-1") == DEPLOYMENT_ID


def test_error_message_is_readable(id_token_claims):
    with pytest.raises(LtiMessageError) as caught:
        check(id_token_claims | {VERSION: "1.1"})
    assert str(caught.value) == f"LTI claim '{VERSION}': expected '1.3.0', got '1.1'"


@pytest.mark.parametrize(
    "setting", ["deep_link_return_url", "accept_types", "accept_presentation_document_targets"]
)
def test_deep_linking_settings_require_their_members(deep_linking_claims, setting):
    settings = without(deep_linking_claims[DEEP_LINKING_SETTINGS], setting)
    claims = deep_linking_claims | {DEEP_LINKING_SETTINGS: settings}
    assert refused_claim(claims) == f"{DEEP_LINKING_SETTINGS}.{setting}"


def test_deep_linking_request_without_settings_is_refused(deep_linking_claims):
    assert refused_claim(without(deep_linking_claims, DEEP_LINKING_SETTINGS)) == DEEP_LINKING_SETTINGS


def test_deep_linking_target_link_uri_still_matches_the_login(deep_linking_claims):
    claims = deep_linking_claims | {TARGET_LINK_URI: "https://attacker.example/"}
    assert refused_claim(claims) == TARGET_LINK_URI
