"""The spec's request checks find the same problems, in the same order and words, as their first plain form
(kept here as the reference) for any request: built ones and ones with any member changed or removed."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.lti import TOOL_CONFIGURATION_KEY
from broker.registration.profiles import generic
from broker.registration.profiles.profile import Problem, RequestContext
from tests.broker.registration.profiles.helpers import context, platform_of, prepare
from tests.hostile_values import json_values

PROPERTIES = settings(max_examples=400, deadline=None, database=None, derandomize=True)
PLATFORMS = {name: platform_of(name) for name in ("moodle", "canvas", "sakai", "blackboard")}

URLS = st.sampled_from(
    [
        "https://lti.example.com/t/acme/lti/launch",
        "http://lti.example.com",
        "https://lti.example.com/#top",
        "https://[::1",
        "https://",
        "ftp://lti.example.com/",
        "/login",
        "https://lti.example.com/a b",
        "https://user@:443/",
        "",
    ]
)
VALUES = st.one_of(
    json_values,
    URLS,
    st.lists(URLS, max_size=3),
    st.lists(st.sampled_from(["client_credentials", "implicit", "id_token", "openid", 1]), max_size=3),
    st.sampled_from(["web", "private_key_jwt", "openid x", "x y", "lti.example.com", "a/b", "a\tb", "h://x"]),
    st.dictionaries(st.sampled_from(["a", "b"]), st.one_of(st.text(max_size=3), st.none()), max_size=2),
    st.sampled_from(["LtiResourceLinkRequest", "LtiDeepLinkingRequest", "LtiStartProctoring"]),
)
CLIENT = [
    "application_type", "grant_types", "response_types", "redirect_uris", "initiate_login_uri", "jwks_uri", "jwks",
    "client_name", "token_endpoint_auth_method", "scope", "contacts", *generic.OPTIONAL_URLS, TOOL_CONFIGURATION_KEY,
]  # fmt: skip
TOOL = ["domain", "target_link_uri", "deployment_id", "claims", "custom_parameters", "messages", "description"]
MESSAGE = ["type", "label", *generic.MESSAGE_URLS, "placements", "roles", "custom_parameters"]
# A member set to a value, or removed (None).
CHANGES = st.dictionaries(st.sampled_from(CLIENT), st.one_of(st.none(), VALUES), max_size=3)
TOOL_CHANGES = st.dictionaries(st.sampled_from(TOOL), st.one_of(st.none(), VALUES), max_size=3)
MESSAGE_CHANGES = st.lists(
    st.dictionaries(st.sampled_from(MESSAGE), st.one_of(st.none(), VALUES), max_size=3), max_size=3
)


def _changed(item: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if value is None:
            item.pop(key, None)
        else:
            item[key] = value


@PROPERTIES
@given(st.sampled_from(sorted(PLATFORMS)), CHANGES, TOOL_CHANGES, MESSAGE_CHANGES)
def test_the_checks_agree_with_their_reference(
    name: str, changes: dict[str, Any], tool_changes: dict[str, Any], message_changes: list[dict[str, Any]]
) -> None:
    platform = PLATFORMS[name]
    request = copy.deepcopy(prepare(platform).request)
    configuration = request[TOOL_CONFIGURATION_KEY]
    _changed(configuration, tool_changes)
    messages = configuration.get("messages")
    if isinstance(messages, list):
        for message, changes_of_message in zip(messages, message_changes, strict=False):
            if isinstance(message, dict):
                _changed(message, changes_of_message)
    _changed(request, changes)
    checked = context(platform)
    assert generic.spec_problems(request, checked) == _reference(request, checked)


@PROPERTIES
@given(st.sampled_from(sorted(PLATFORMS)), URLS | st.text(max_size=30))
def test_every_url_is_judged_as_the_reference_judges_it(name: str, url: str) -> None:
    platform = PLATFORMS[name]
    request = copy.deepcopy(prepare(platform).request)
    request["jwks_uri"] = request["logo_uri"] = url
    request[TOOL_CONFIGURATION_KEY]["messages"][0]["icon_uri"] = url
    checked = context(platform)
    assert generic.spec_problems(request, checked) == _reference(request, checked)


# The reference: the checks as first written, one list of (field, ok, reason) a part; a URL is judged by
# generic.is_http_url, unchanged, once wherever it sits.
_is_http_url = generic.is_http_url


def _is_string_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _reference(request: Mapping[str, Any], context: RequestContext) -> tuple[Problem, ...]:
    configuration = request.get(TOOL_CONFIGURATION_KEY)
    if not isinstance(configuration, Mapping):
        return (*_client_problems(request), Problem(TOOL_CONFIGURATION_KEY, "must be an object"))
    return (*_client_problems(request), *_tool_problems(configuration, context))


def _client_problems(request: Mapping[str, Any]) -> list[Problem]:
    checks = [
        ("application_type", request.get("application_type") == "web", "must be 'web'"),
        (
            "grant_types",
            _is_string_list(request.get("grant_types"))
            and {"client_credentials", "implicit"} <= set(request["grant_types"]),
            "must contain client_credentials and implicit",
        ),
        (
            "response_types",
            _is_string_list(request.get("response_types")) and "id_token" in request["response_types"],
            "must be a list containing id_token",
        ),
        (
            "redirect_uris",
            isinstance(request.get("redirect_uris"), list)
            and bool(request["redirect_uris"])
            and all(_is_http_url(uri) for uri in request["redirect_uris"]),
            "must be a non-empty list of absolute http(s) URLs",
        ),
        ("initiate_login_uri", _is_http_url(request.get("initiate_login_uri")), "must be an absolute http(s) URL"),
        ("jwks_uri", _is_http_url(request.get("jwks_uri")), "must be an absolute http(s) URL"),
        ("jwks", "jwks" not in request, "inline keys are not allowed; jwks_uri is"),
        ("client_name", isinstance(request.get("client_name"), str) and bool(request["client_name"]), "is required"),
        (
            "token_endpoint_auth_method",
            request.get("token_endpoint_auth_method") == "private_key_jwt",
            "must be 'private_key_jwt'",
        ),
        (
            "scope",
            "scope" not in request or (isinstance(request["scope"], str) and "openid" not in request["scope"].split()),
            "must be a space-separated string without openid",
        ),
        ("contacts", "contacts" not in request or _is_string_list(request["contacts"]), "must be a list of strings"),
        *_optional_urls(request, generic.OPTIONAL_URLS),
    ]
    return [Problem(name, reason) for name, ok, reason in checks if not ok]


def _optional_urls(item: Mapping[str, Any], keys: tuple[str, ...]) -> list[tuple[str, bool, str]]:
    return [(key, key not in item or _is_http_url(item[key]), "must be an absolute http(s) URL") for key in keys]


def _tool_problems(configuration: Mapping[str, Any], context: RequestContext) -> list[Problem]:
    domain = configuration.get("domain")
    messages = configuration.get("messages", [])
    checks = [
        (
            "domain",
            isinstance(domain, str) and bool(domain) and not any(c in domain for c in "/ \t") and "://" not in domain,
            "must be a host name without a scheme or a path",
        ),
        ("target_link_uri", _is_http_url(configuration.get("target_link_uri")), "must be an absolute http(s) URL"),
        ("deployment_id", "deployment_id" not in configuration, "is set by the platform only"),
        ("claims", _is_string_list(configuration.get("claims", [])), "must be a list of strings"),
        ("custom_parameters", _is_string_map(configuration.get("custom_parameters", {})), "values must be strings"),
        ("messages", isinstance(messages, list), "must be a list"),
    ]
    problems = [Problem(f"{TOOL_CONFIGURATION_KEY}.{name}", reason) for name, ok, reason in checks if not ok]
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        problems += _message_problems(message, f"{TOOL_CONFIGURATION_KEY}.messages[{index}]", context)
    return problems


def _message_problems(message: Any, where: str, context: RequestContext) -> list[Problem]:
    if not isinstance(message, Mapping):
        return [Problem(where, "must be an object")]
    checks = [
        (
            "type",
            isinstance(message.get("type"), str) and context.platform.supports_message(message["type"]),
            "must be a message type the platform lists",
        ),
        *_optional_urls(message, generic.MESSAGE_URLS),
        ("placements", _is_string_list(message.get("placements", [])), "must be a list of strings"),
        ("roles", _is_string_list(message.get("roles", [])), "must be a list of strings"),
        ("custom_parameters", _is_string_map(message.get("custom_parameters", {})), "values must be strings"),
    ]
    return [Problem(f"{where}.{name}", reason) for name, ok, reason in checks if not ok]
