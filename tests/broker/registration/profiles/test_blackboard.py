"""Blackboard's Developer Portal: the documented issuer exception, and who may claim it."""

from __future__ import annotations

import pytest

from broker.registration import errors
from broker.registration.platform_configuration import PlatformConfigurationError
from broker.registration.profiles import blackboard
from tests.broker.registration.profiles.helpers import CONFIGURATION_URLS, fixture, prepare, read

PORTAL_URL = CONFIGURATION_URLS["blackboard"]


@pytest.mark.parametrize("document_issuer", ["https://blackboard.com", "https://developer.blackboard.com"])
def test_the_portal_s_document_is_stored_with_the_launch_issuer_and_a_note(document_issuer: str) -> None:
    document = fixture("blackboard")
    document["issuer"] = document_issuer
    platform = read(document, PORTAL_URL)
    assert platform.profile == "blackboard"
    assert platform.issuer == "https://blackboard.com"
    (note,) = platform.adaptations
    assert note.startswith(f"issuer stored as https://blackboard.com (the document says {document_issuer})")
    assert "developer.blackboard.com" in note


def test_the_kb_s_url_prefixes_are_read_as_the_imsglobal_ones() -> None:
    platform = read(fixture("blackboard"), PORTAL_URL)
    assert platform.product_family_code == "BlackboardLearn"
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in (platform.scopes_supported or ())
    assert platform.supports_message("LtiDeepLinkingRequest")


@pytest.mark.parametrize(
    "configuration_url",
    [
        "https://evil.example/.well-known/openid-configuration",
        "https://developer.blackboard.com.evil.example/config",
        "https://blackboard.com.evil.example/config",
    ],
)
def test_no_other_host_can_claim_blackboard_s_issuer_outside_insecure_mode(configuration_url: str) -> None:
    document = fixture("blackboard")  # says BlackboardLearn and issuer https://blackboard.com
    with pytest.raises(PlatformConfigurationError) as raised:
        read(document, configuration_url)
    assert raised.value.field == "issuer"


def test_in_insecure_mode_a_blackboard_learn_document_may_come_from_a_dev_host() -> None:
    platform = read(fixture("blackboard"), "http://127.0.0.1:8080/config", allow_insecure=True)
    assert platform.issuer == "https://blackboard.com"
    assert "insecure mode" in platform.adaptations[0]


def test_in_insecure_mode_another_product_still_gets_the_general_rule() -> None:
    document = fixture("blackboard")
    document["URL/spec/lti-platform-configuration"]["product_family_code"] = "moodle"
    with pytest.raises(PlatformConfigurationError):
        read(document, "http://127.0.0.1:8080/config", allow_insecure=True)


def test_a_registration_endpoint_without_its_token_is_never_sent() -> None:
    document = fixture("blackboard")
    document["registration_endpoint"] = "https://developer.blackboard.com/api/v1/gateway/registerLti"
    with pytest.raises(errors.RequestNotSentError) as raised:
        prepare(read(document, PORTAL_URL), token=False)
    assert raised.value.field == "registration_endpoint"


def test_the_portal_needs_no_registration_token_parameter() -> None:
    prepared = prepare(read(fixture("blackboard"), PORTAL_URL), token=False)
    assert prepared.profile.name == "blackboard"
    assert "Developer Portal" in (blackboard.explain_refusal(401, "Invalid registration token") or "")
