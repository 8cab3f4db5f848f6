"""The 1EdTech-strict profile: the spec's request rules, which every profile checks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from broker.lti import TOOL_CONFIGURATION_KEY
from broker.registration.profiles import generic
from tests.broker.registration.profiles.helpers import context, platform_of, prepare

PLATFORM = platform_of("moodle")


def good_request() -> dict[str, Any]:
    return copy.deepcopy(prepare(PLATFORM).request)


def test_a_built_request_breaks_no_rule() -> None:
    assert generic.spec_problems(good_request(), context(PLATFORM)) == ()


def _set(path: str, value: Any) -> dict[str, Any]:
    request = good_request()
    *parents, last = path.split(".")
    target = request
    for key in parents:
        target = target[TOOL_CONFIGURATION_KEY] if key == "tool" else target[key]
    target[last] = value
    return request


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("application_type", "native", "application_type"),
        ("grant_types", ["implicit"], "grant_types"),
        ("response_types", "id_token", "response_types"),
        ("redirect_uris", [], "redirect_uris"),
        ("initiate_login_uri", "/login", "initiate_login_uri"),
        ("jwks", {"keys": []}, "jwks"),
        ("client_name", "", "client_name"),
        ("token_endpoint_auth_method", "client_secret_basic", "token_endpoint_auth_method"),
        ("scope", "openid https://purl.imsglobal.org/spec/lti-ags/scope/score", "scope"),
        ("logo_uri", "logo.png", "logo_uri"),
        ("tool.domain", "https://lti.example.com", f"{TOOL_CONFIGURATION_KEY}.domain"),
        ("tool.deployment_id", "1", f"{TOOL_CONFIGURATION_KEY}.deployment_id"),
        ("tool.custom_parameters", {"n": 1}, f"{TOOL_CONFIGURATION_KEY}.custom_parameters"),
        ("tool.claims", "email", f"{TOOL_CONFIGURATION_KEY}.claims"),
    ],
)
def test_each_broken_rule_is_named(path: str, value: Any, field: str) -> None:
    problems = generic.spec_problems(_set(path, value), context(PLATFORM))
    assert [problem.field for problem in problems] == [field]


def test_message_rules_are_named_with_their_index() -> None:
    request = good_request()
    request[TOOL_CONFIGURATION_KEY]["messages"][0].update(type="LtiStartProctoring", custom_parameters={"x": None})
    fields = [problem.field for problem in generic.spec_problems(request, context(PLATFORM))]
    where = f"{TOOL_CONFIGURATION_KEY}.messages[0]"
    assert fields == [f"{where}.type", f"{where}.custom_parameters"]


def test_client_assertion_audience_is_the_authorization_server_when_published_else_the_token_endpoint() -> None:
    assert generic.client_assertion_audience("https://lms/token", "https://lms/auth") == "https://lms/auth"
    assert generic.client_assertion_audience("https://lms/token", None) == "https://lms/token"
    assert generic.client_assertion_audience("https://lms/token", "") == "https://lms/token"


# A space, a tab, a no-break space, an em space, the ideographic space and the information separator that Python
# also calls whitespace: a URL holding any of them is refused wherever it sits.
@pytest.mark.parametrize("space", [" ", "\t", "\u00a0", "\u2003", "\u3000", "\x1c"])
@pytest.mark.parametrize("at", ["https://tool.example/lo{}gin", "{}https://tool.example/login"])
def test_a_url_holding_whitespace_is_refused(space: str, at: str) -> None:
    problems = generic.spec_problems(_set("initiate_login_uri", at.format(space)), context(PLATFORM))
    assert [problem.field for problem in problems] == ["initiate_login_uri"]
