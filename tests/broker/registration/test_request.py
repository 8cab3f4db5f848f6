"""Building the registration request from the tenant's configuration and the platform's offer."""

from __future__ import annotations

from dataclasses import replace

from broker.lti import (
    AGS_LINEITEM,
    AGS_SCORE,
    DEEP_LINKING_REQUEST,
    NRPS_MEMBERSHIPS,
    RESOURCE_LINK_REQUEST,
    TOOL_CONFIGURATION_KEY,
)
from broker.registration.platform_configuration import PlatformConfiguration, SupportedMessage
from broker.registration.request import build_registration_request, plan_registration
from tenants.tool_configuration import MessageConfiguration, ToolConfiguration
from tests.broker.registration.profiles.helpers import ENDPOINTS

PLATFORM = PlatformConfiguration(
    issuer="https://lms.example.edu",
    authorization_endpoint="https://lms.example.edu/auth",
    token_endpoint="https://lms.example.edu/token",
    jwks_uri="https://lms.example.edu/jwks",
    registration_endpoint="https://lms.example.edu/register",
    authorization_server=None,
    scopes_supported=("openid", AGS_LINEITEM, AGS_SCORE),
    claims_supported=None,
    product_family_code="generic",
    version=None,
    messages_supported=(SupportedMessage(RESOURCE_LINK_REQUEST),),
    variables=None,
    document={},
)


def test_scopes_are_limited_to_what_the_platform_supports_and_never_include_openid() -> None:
    tool = ToolConfiguration(scopes=(AGS_LINEITEM, AGS_SCORE, NRPS_MEMBERSHIPS))
    plan = plan_registration(tool, PLATFORM)
    assert plan.scopes == (AGS_LINEITEM, AGS_SCORE)
    assert plan.unavailable_scopes == (NRPS_MEMBERSHIPS,)
    body = build_registration_request(client_name="Acme", tool=tool, plan=plan, endpoints=ENDPOINTS)
    assert body["scope"].split() == [AGS_LINEITEM, AGS_SCORE]


def test_messages_the_platform_does_not_list_are_left_out() -> None:
    plan = plan_registration(ToolConfiguration(), PLATFORM)
    assert [m.type for m in plan.messages] == [RESOURCE_LINK_REQUEST]
    assert plan.unavailable_messages == (DEEP_LINKING_REQUEST,)


def test_platform_that_lists_no_scopes_or_messages_gets_everything_asked() -> None:
    platform = replace(PLATFORM, scopes_supported=None, messages_supported=None)
    plan = plan_registration(ToolConfiguration(), platform)
    assert len(plan.messages) == 2 and plan.unavailable_scopes == ()


def test_placements_are_filtered_by_what_the_platform_lists() -> None:
    platform = replace(PLATFORM, messages_supported=(SupportedMessage(DEEP_LINKING_REQUEST, ("ContentArea",)),))
    message = MessageConfiguration(DEEP_LINKING_REQUEST, placements=("ContentArea", "Bogus"))
    tool = ToolConfiguration(messages=(message,))
    plan = plan_registration(tool, platform)
    assert plan.messages[0].placements == ("ContentArea",)


def test_request_carries_the_spec_fields_and_the_broker_urls() -> None:
    tool = ToolConfiguration(
        description="Quizzes",
        logo_uri="https://acme.example/logo.png",
        contacts=("support@acme.example",),
        client_name_translations={"fr": "Quiz Acme"},
        custom_parameters={"course": "$Context.id"},
    )
    body = build_registration_request(
        client_name="Acme Quiz", tool=tool, plan=plan_registration(tool, PLATFORM), endpoints=ENDPOINTS
    )
    assert body["application_type"] == "web"
    assert body["grant_types"] == ["client_credentials", "implicit"]
    assert body["response_types"] == ["id_token"]
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["client_name"] == "Acme Quiz" and body["client_name#fr"] == "Quiz Acme"
    assert body["redirect_uris"] == [ENDPOINTS.redirect_uri]
    assert body["initiate_login_uri"] == ENDPOINTS.initiate_login_uri
    assert body["jwks_uri"] == ENDPOINTS.jwks_uri
    configuration = body[TOOL_CONFIGURATION_KEY]
    assert configuration["domain"] == "lti.example.com"
    assert configuration["target_link_uri"] == ENDPOINTS.target_link_uri
    assert "deployment_id" not in configuration
    assert configuration["custom_parameters"] == {"course": "$Context.id"}
    assert all(message["target_link_uri"] == ENDPOINTS.target_link_uri for message in configuration["messages"])


def test_an_empty_scope_when_nothing_is_requested() -> None:
    tool = ToolConfiguration(scopes=())
    body = build_registration_request(
        client_name="Acme", tool=tool, plan=plan_registration(tool, PLATFORM), endpoints=ENDPOINTS
    )
    assert body["scope"] == ""
