"""The 1EdTech-strict profile: LTI-DR 1.0 to the letter, for any platform without a profile of its own.

Its request check is the spec's request rules (LTI-DR §3.5.2 via OIDC-Reg/RFC 7591: `application_type`
web, the `client_credentials` and `implicit` grants, the `id_token` response type, `private_key_jwt`, keys
by `jwks_uri` only); every other profile runs it too, then its own. The other profiles are built from this
one with `replace`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from broker.lti import TOOL_CONFIGURATION_KEY
from broker.registration.platform_configuration import PlatformConfiguration, validate_platform_configuration
from broker.registration.profiles.profile import (
    Adapted,
    ConfigurationSource,
    PlatformProfile,
    Problem,
    RequestContext,
)
from broker.registration.request import documented_offer

OPTIONAL_URLS = ("logo_uri", "client_uri", "tos_uri", "policy_uri")
MESSAGE_URLS = ("target_link_uri", "icon_uri")


def read_configuration(document: Mapping[str, Any], source: ConfigurationSource) -> PlatformConfiguration:
    return validate_platform_configuration(
        document, configuration_url=source.configuration_url, allow_insecure=source.allow_insecure
    )


def keep_request(request: dict[str, Any], platform: PlatformConfiguration) -> Adapted:
    return Adapted(request)


def no_explanation(status_code: int, text: str) -> str | None:
    return None


def client_assertion_audience(token_endpoint: str, authorization_server: str | None) -> str:
    """LTI-DR: the platform's `authorization_server` when it publishes one, else its token endpoint.

    Taking the audience from the platform's own document is safe because the assertion is signed with the key
    bound to that platform (tenants.platform_bound_keys): no other platform trusts it, whatever its `aud`.
    """
    return authorization_server or token_endpoint


# What str.isspace() calls whitespace (re's \s in a str pattern is the same set), found in one pass.
_WHITESPACE = re.compile(r"\s")


def is_http_url(value: Any) -> bool:
    """An absolute http(s) URL with a host, no fragment and no whitespace."""
    if not isinstance(value, str) or not value or _WHITESPACE.search(value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # unbalanced IPv6 brackets (https://[::1), a netloc that NFKC-normalizes to /?#@:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname) and not parts.fragment


def is_string_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def spec_problems(request: Mapping[str, Any], context: RequestContext) -> tuple[Problem, ...]:
    """Every LTI-DR 1.0 request rule the request breaks."""
    configuration = request.get(TOOL_CONFIGURATION_KEY)
    if not isinstance(configuration, Mapping):
        return (*_client_problems(request), Problem(TOOL_CONFIGURATION_KEY, "must be an object"))
    return (*_client_problems(request), *_tool_problems(configuration, context))


def _client_problems(request: Mapping[str, Any]) -> list[Problem]:
    checks = [
        ("application_type", request.get("application_type") == "web", "must be 'web'"),
        (
            "grant_types",
            is_string_list(request.get("grant_types"))
            and {"client_credentials", "implicit"} <= set(request["grant_types"]),
            "must contain client_credentials and implicit",
        ),
        (
            "response_types",
            is_string_list(request.get("response_types")) and "id_token" in request["response_types"],
            "must be a list containing id_token",
        ),
        (
            "redirect_uris",
            isinstance(request.get("redirect_uris"), list)
            and bool(request["redirect_uris"])
            and all(is_http_url(uri) for uri in request["redirect_uris"]),
            "must be a non-empty list of absolute http(s) URLs",
        ),
        ("initiate_login_uri", is_http_url(request.get("initiate_login_uri")), "must be an absolute http(s) URL"),
        ("jwks_uri", is_http_url(request.get("jwks_uri")), "must be an absolute http(s) URL"),
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
        ("contacts", "contacts" not in request or is_string_list(request["contacts"]), "must be a list of strings"),
        *_optional_urls(request, OPTIONAL_URLS),
    ]
    return [Problem(name, reason) for name, ok, reason in checks if not ok]


def _optional_urls(item: Mapping[str, Any], keys: tuple[str, ...]) -> list[tuple[str, bool, str]]:
    return [(key, key not in item or is_http_url(item[key]), "must be an absolute http(s) URL") for key in keys]


def _tool_problems(configuration: Mapping[str, Any], context: RequestContext) -> list[Problem]:
    domain = configuration.get("domain")
    messages = configuration.get("messages", [])
    checks = [
        (
            "domain",
            isinstance(domain, str) and bool(domain) and not any(c in domain for c in "/ \t") and "://" not in domain,
            "must be a host name without a scheme or a path",
        ),
        ("target_link_uri", is_http_url(configuration.get("target_link_uri")), "must be an absolute http(s) URL"),
        ("deployment_id", "deployment_id" not in configuration, "is set by the platform only"),
        ("claims", is_string_list(configuration.get("claims", [])), "must be a list of strings"),
        (
            "custom_parameters",
            is_string_map(configuration.get("custom_parameters", {})),
            "values must be strings",
        ),
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
        *_optional_urls(message, MESSAGE_URLS),
        ("placements", is_string_list(message.get("placements", [])), "must be a list of strings"),
        ("roles", is_string_list(message.get("roles", [])), "must be a list of strings"),
        ("custom_parameters", is_string_map(message.get("custom_parameters", {})), "values must be strings"),
    ]
    return [Problem(f"{where}.{name}", reason) for name, ok, reason in checks if not ok]


PROFILE = PlatformProfile(
    name="generic",
    title="LTI Dynamic Registration platform",
    product_family_codes=frozenset(),
    read_configuration=read_configuration,
    offer=documented_offer,
    adapt_request=keep_request,
    check_request=spec_problems,
    explain_refusal=no_explanation,
    client_assertion_audience=client_assertion_audience,
)
