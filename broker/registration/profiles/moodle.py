"""Moodle (`mod/lti`): narrow checks, plain-text errors, and only part of the registration is used.

Facts (docs/platforms.md, Moodle; `registration_helper.php` @bb20aefc, `openid-configuration.php`):
- releases before 4.x published no `authorization_endpoint`: it is always `<wwwroot>/mod/lti/auth.php`;
- the POST needs `Authorization: Bearer <token>` (401 `missing_registration_token` otherwise);
- required, and PHP-`empty()` counts as missing: `response_types`, `initiate_login_uri`, `redirect_uris`,
  `client_name`, `jwks_uri`, `token_endpoint_auth_method`, the tool configuration and its `domain`;
- the host of `target_link_uri` (scheme and a leading `www.` ignored, port kept) must equal `domain`
  (400 `domain_targetlinkuri_mismatch`);
- of the messages only the last `LtiDeepLinkingRequest` is used, and only its `target_link_uri`; placements,
  labels and message-level custom parameters are dropped; tool-level custom parameters are stored as
  `key=value` lines and read back split on `=`;
- the answer always carries `scope` (re-derived from the services it switched on).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from broker.lti import DEEP_LINKING_REQUEST, TOOL_CONFIGURATION_KEY
from broker.registration.platform_configuration import PlatformConfiguration
from broker.registration.profiles import generic
from broker.registration.profiles.profile import Adapted, ConfigurationSource, Problem, RequestContext
from broker.registration.request import PlatformOffer, documented_offer

AUTH_PATH = "/mod/lti/auth.php"
REQUIRED = ("response_types", "initiate_login_uri", "redirect_uris", "client_name", "jwks_uri")
# Moodle's own domain reading: an optional scheme and `www.`, then everything up to the first "/".
_MOODLE_DOMAIN = re.compile(r"(?:https?://)?(?:www\.)?([^/]+)(?:/|$)", re.IGNORECASE)


def read_configuration(document: Mapping[str, Any], source: ConfigurationSource) -> PlatformConfiguration:
    document, adaptations = _with_authorization_endpoint(document)
    platform = generic.read_configuration(document, source)
    return replace(platform, adaptations=(*platform.adaptations, *adaptations)) if adaptations else platform


def _with_authorization_endpoint(document: Mapping[str, Any]) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    # Moodle 3.x left the endpoint out of its document; it has always lived at this path under the issuer.
    issuer = document.get("issuer")
    if document.get("authorization_endpoint") or not isinstance(issuer, str):
        return document, ()
    endpoint = issuer.rstrip("/") + AUTH_PATH
    note = f"authorization_endpoint was missing (Moodle before 4.0): used {endpoint}"
    return {**document, "authorization_endpoint": endpoint}, (note,)


def offer(platform: PlatformConfiguration) -> PlatformOffer:
    # Moodle ignores placements (its `placements: ["AddContentMenu"]` is platform-wide), so none is offered.
    documented = documented_offer(platform)
    types = documented.message_types or ()
    return replace(documented, placements={message_type: frozenset() for message_type in types})


def adapt_request(request: dict[str, Any], platform: PlatformConfiguration) -> Adapted:
    configuration = dict(request[TOOL_CONFIGURATION_KEY])
    messages = [dict(message) for message in configuration.get("messages", [])]
    custom, notes = _merged_custom_parameters(configuration.get("custom_parameters", {}), messages)
    if custom:
        configuration["custom_parameters"] = custom
    # Moodle reads only the last deep-linking message; keep exactly one and put it last.
    deep_linking = [message for message in messages if message.get("type") == DEEP_LINKING_REQUEST]
    configuration["messages"] = [m for m in messages if m.get("type") != DEEP_LINKING_REQUEST] + deep_linking[-1:]
    notes += _mangled_values(custom)
    return Adapted({**request, TOOL_CONFIGURATION_KEY: configuration}, tuple(notes))


def _merged_custom_parameters(
    tool_level: Mapping[str, str], messages: list[dict[str, Any]]
) -> tuple[dict[str, str], list[str]]:
    """Message-level custom parameters moved to the tool level, which is all Moodle keeps."""
    merged = dict(tool_level)
    notes: list[str] = []
    for message in messages:
        for key, value in message.pop("custom_parameters", {}).items():
            if merged.setdefault(key, value) != value:
                notes.append(f"custom parameter {key}: Moodle keeps one value per tool; {merged[key]!r} is kept")
    if any(key not in tool_level for key in merged):
        notes.append("message custom parameters are sent at the tool level, the only level Moodle keeps")
    return merged, notes


def _mangled_values(custom: Mapping[str, str]) -> list[str]:
    # Moodle stores `key=value` lines and splits them on "=": a value with "=" or a line break is cut short.
    return [
        f"custom parameter {key}: Moodle keeps its value only up to the first '=' or line break"
        for key, value in custom.items()
        if "=" in value or "\n" in value or "\r" in value
    ]


def moodle_domain(value: str) -> str | None:
    match = _MOODLE_DOMAIN.search(value)
    return match.group(1) if match else None


def check_request(request: Mapping[str, Any], context: RequestContext) -> tuple[Problem, ...]:
    problems = list(generic.spec_problems(request, context))
    problems += [
        Problem(key, "Moodle treats an empty value as missing") for key in REQUIRED if _php_empty(request.get(key))
    ]
    configuration = request.get(TOOL_CONFIGURATION_KEY)
    if isinstance(configuration, Mapping):
        problems += _domain_problems(configuration)
    return tuple(problems)


def _domain_problems(configuration: Mapping[str, Any]) -> list[Problem]:
    domain = configuration.get("domain")
    if not isinstance(domain, str) or _php_empty(domain):
        return [Problem(f"{TOOL_CONFIGURATION_KEY}.domain", "is required by Moodle")]
    target = configuration.get("target_link_uri") or f"https://{domain}"
    if not isinstance(target, str) or moodle_domain(domain) != moodle_domain(target):
        return [
            Problem(
                f"{TOOL_CONFIGURATION_KEY}.domain",
                f"Moodle requires it to equal the host of target_link_uri ({target}); it is {domain}",
            )
        ]
    return []


def _php_empty(value: Any) -> bool:
    return value in (None, "", "0", [], {}, 0, False)


def explain_refusal(status_code: int, text: str) -> str | None:
    if "token_already_used" in text:
        return "This Moodle registration link was already used. Start again from Moodle's Manage tools page."
    if status_code == 500:
        return (
            "Moodle answers this way when the registration token has expired (tokens last an hour). "
            "Start again from Moodle's Manage tools page."
        )
    return None


PROFILE = replace(
    generic.PROFILE,
    name="moodle",
    title="Moodle",
    product_family_codes=frozenset({"moodle"}),
    read_configuration=read_configuration,
    offer=offer,
    adapt_request=adapt_request,
    check_request=check_request,
    explain_refusal=explain_refusal,
    needs_registration_token=True,
    answer_without_scope="nothing_granted",
)
