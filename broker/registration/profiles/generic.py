"""The 1EdTech-strict profile: LTI-DR 1.0 to the letter, for any platform without a profile of its own.

Its request check is the spec's request rules (LTI-DR §3.5.2 via OIDC-Reg/RFC 7591: `application_type`
web, the `client_credentials` and `implicit` grants, the `id_token` response type, `private_key_jwt`, keys
by `jwks_uri` only); every other profile runs it too, then its own. The other profiles are built from this
one with `replace`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import repeat
from typing import Any
from urllib.parse import urlsplit

from broker.lti import TOOL_CONFIGURATION_KEY
from broker.registration.platform_configuration import (
    PLAIN_HTTP_URL,
    PlatformConfiguration,
    validate_platform_configuration,
)
from broker.registration.profiles.profile import (
    Adapted,
    ConfigurationSource,
    PlatformProfile,
    Problem,
    RequestContext,
)
from broker.registration.request import documented_offer
from broker.untrusted_json import is_string_list

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
    if not isinstance(value, str) or not value:
        return False
    if PLAIN_HTTP_URL.fullmatch(value):
        return True
    if _WHITESPACE.search(value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # unbalanced IPv6 brackets (https://[::1), a netloc that NFKC-normalizes to /?#@:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname) and not parts.fragment


def is_string_map(value: Any) -> bool:
    # A dict is told apart before the Mapping ABC's instance check, a Python call each time; map keeps the walks
    # in C (a generator is a Python call an item).
    if type(value) is not dict and not isinstance(value, Mapping):
        return False
    return all(map(isinstance, value.keys(), repeat(str))) and all(map(isinstance, value.values(), repeat(str)))


def spec_problems(request: Mapping[str, Any], context: RequestContext) -> tuple[Problem, ...]:
    """Every LTI-DR 1.0 request rule the request breaks."""
    # A request names the same URL in several places (the launch URL is a redirect URI and every message's
    # target): each is checked once a call.
    urls = _Urls()
    configuration = request.get(TOOL_CONFIGURATION_KEY)
    if type(configuration) is not dict and not isinstance(configuration, Mapping):
        return (*_client_problems(request, urls), Problem(TOOL_CONFIGURATION_KEY, "must be an object"))
    return (*_client_problems(request, urls), *_tool_problems(configuration, context, urls))


class _Urls(dict[str, bool]):
    """Whether each URL seen by one check is an absolute http(s) URL, found once: `urls[text]` for a string
    (written out where it is read, which spares a call), `urls.ok(value)` for any value."""

    def __missing__(self, url: str) -> bool:
        ok = self[url] = is_http_url(url)
        return ok

    def ok(self, value: Any) -> bool:
        return isinstance(value, str) and self[value]


_GRANTS = frozenset({"client_credentials", "implicit"})
_A_URL = "must be an absolute http(s) URL"
_STRINGS = "must be a list of strings"


def _client_problems(request: Mapping[str, Any], urls: _Urls) -> list[Problem]:
    problems = []
    if request.get("application_type") != "web":
        problems.append(Problem("application_type", "must be 'web'"))
    grants = request.get("grant_types")
    if not (is_string_list(grants) and _GRANTS.issubset(grants)):
        problems.append(Problem("grant_types", "must contain client_credentials and implicit"))
    responses = request.get("response_types")
    if not (is_string_list(responses) and "id_token" in responses):
        problems.append(Problem("response_types", "must be a list containing id_token"))
    redirects = request.get("redirect_uris")
    if not (isinstance(redirects, list) and redirects and all(map(urls.ok, redirects))):
        problems.append(Problem("redirect_uris", "must be a non-empty list of absolute http(s) URLs"))
    if not (isinstance(login := request.get("initiate_login_uri"), str) and urls[login]):
        problems.append(Problem("initiate_login_uri", _A_URL))
    if not (isinstance(jwks := request.get("jwks_uri"), str) and urls[jwks]):
        problems.append(Problem("jwks_uri", _A_URL))
    if "jwks" in request:
        problems.append(Problem("jwks", "inline keys are not allowed; jwks_uri is"))
    name = request.get("client_name")
    if not (isinstance(name, str) and name):
        problems.append(Problem("client_name", "is required"))
    if request.get("token_endpoint_auth_method") != "private_key_jwt":
        problems.append(Problem("token_endpoint_auth_method", "must be 'private_key_jwt'"))
    if "scope" in request and not (isinstance(scope := request["scope"], str) and "openid" not in scope.split()):
        problems.append(Problem("scope", "must be a space-separated string without openid"))
    if "contacts" in request and not is_string_list(request["contacts"]):
        problems.append(Problem("contacts", _STRINGS))
    problems += _optional_url_problems(request, OPTIONAL_URLS, "", urls)
    return problems


def _optional_url_problems(item: Mapping[str, Any], keys: tuple[str, ...], where: str, urls: _Urls) -> list[Problem]:
    problems = []
    for key in keys:
        if key in item and not (isinstance(url := item[key], str) and urls[url]):
            problems.append(Problem(f"{where}{key}", _A_URL))
    return problems


def _tool_problems(configuration: Mapping[str, Any], context: RequestContext, urls: _Urls) -> list[Problem]:
    where = f"{TOOL_CONFIGURATION_KEY}."
    problems = []
    domain = configuration.get("domain")
    if not (
        isinstance(domain, str)
        and domain
        and "/" not in domain
        and " " not in domain
        and "\t" not in domain
        and "://" not in domain
    ):
        problems.append(Problem(f"{where}domain", "must be a host name without a scheme or a path"))
    if not (isinstance(target := configuration.get("target_link_uri"), str) and urls[target]):
        problems.append(Problem(f"{where}target_link_uri", _A_URL))
    if "deployment_id" in configuration:
        problems.append(Problem(f"{where}deployment_id", "is set by the platform only"))
    if "claims" in configuration and not is_string_list(configuration["claims"]):
        problems.append(Problem(f"{where}claims", _STRINGS))
    if "custom_parameters" in configuration and not is_string_map(configuration["custom_parameters"]):
        problems.append(Problem(f"{where}custom_parameters", "values must be strings"))
    messages = configuration.get("messages", [])
    if not isinstance(messages, list):
        problems.append(Problem(f"{where}messages", "must be a list"))
        return problems
    for index, message in enumerate(messages):
        problems += _message_problems(message, f"{where}messages[{index}]", context, urls)
    return problems


def _message_problems(message: Any, where: str, context: RequestContext, urls: _Urls) -> list[Problem]:
    if type(message) is not dict and not isinstance(message, Mapping):
        return [Problem(where, "must be an object")]
    problems = []
    kind = message.get("type")
    if not (isinstance(kind, str) and context.platform.supports_message(kind)):
        problems.append(Problem(f"{where}.type", "must be a message type the platform lists"))
    problems += _optional_url_problems(message, MESSAGE_URLS, f"{where}.", urls)
    if "placements" in message and not is_string_list(message["placements"]):
        problems.append(Problem(f"{where}.placements", _STRINGS))
    if "roles" in message and not is_string_list(message["roles"]):
        problems.append(Problem(f"{where}.roles", _STRINGS))
    if "custom_parameters" in message and not is_string_map(message["custom_parameters"]):
        problems.append(Problem(f"{where}.custom_parameters", "values must be strings"))
    return problems


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
