"""Shared pieces of the emulators' validation rules: key names, URL and type checks, and the strict
LTI-DR 1.0 request rules.

Sources (the 1EdTech LTI Dynamic Registration 1.0 specification and the RFCs it builds on):

* key names: the platform configuration (LTI-DR §3.4) and the tool configuration (LTI-DR §3.5.2);
* ``spec_violations``: the request rules of LTI-DR §3.5.2 and OIDC-Reg: ``application_type`` web,
  ``grant_types`` with ``client_credentials`` and ``implicit``, ``response_types`` with ``id_token``,
  ``token_endpoint_auth_method`` ``private_key_jwt``, a ``jwks_uri`` and no inline keys; plus the rules that
  ``deployment_id`` is response-only and that ``domain`` carries no protocol;
* error codes: RFC 7591 §3.2.2 (``invalid_redirect_uri`` for redirect URIs, ``invalid_client_metadata`` for
  everything else).
"""

from __future__ import annotations

import copy
import ipaddress
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

TOOL_CONFIG_KEY = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIG_KEY = "https://purl.imsglobal.org/spec/lti-platform-configuration"

REQUIRED_GRANT_TYPES = ("client_credentials", "implicit")
LOOPBACK_NAMES = frozenset({"localhost"})

UrlRule = Callable[[Any], bool]


def php_empty(value: Any) -> bool:
    """PHP ``empty()`` over decoded JSON: absent/null, false, 0, 0.0, "", "0", [] and {} are empty."""
    if value is None or value is False:
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    if isinstance(value, str):
        return value in ("", "0")
    if isinstance(value, (list, dict)):
        return len(value) == 0
    return False


def is_absolute_uri(value: Any) -> bool:
    """A string with a scheme and no whitespace (JSON-schema ``format: uri`` style)."""
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        return False
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        return False
    return bool(scheme) and scheme[0].isalpha()


def is_http_url(value: Any) -> bool:
    """An absolute ``http``/``https`` URL with a host and no fragment."""
    if not is_absolute_uri(value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.fragment


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost``, names under it (RFC 6761: they resolve to loopback; the tests' tenant hosts) and
    loopback IP literals; the only hosts the emulators ever contact."""
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES or host.lower().rstrip(".").endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_https_or_loopback_url(value: Any) -> bool:
    """``https`` URL, or ``http`` on a loopback host (the relaxation that lets tests run without TLS)."""
    if not is_http_url(value):
        return False
    parts = urlsplit(value)
    return parts.scheme == "https" or is_loopback_host(parts.hostname)


def is_string_list(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def is_string_map(value: Any) -> TypeGuard[dict[str, str]]:
    return isinstance(value, dict) and all(isinstance(item, str) for item in value.values())


def scope_list(scope: Any) -> list[str]:
    """The space-separated ``scope`` string as a list (anything else counts as no scope)."""
    return scope.split() if isinstance(scope, str) else []


def message_types_of(platform_config: Mapping[str, Any]) -> list[str]:
    """Message types from ``messages_supported``, which may hold objects or bare strings (Moodle's do)."""
    types: list[str] = []
    for entry in platform_config.get("messages_supported", []):
        kind = entry.get("type") if isinstance(entry, dict) else entry
        if isinstance(kind, str):
            types.append(kind)
    return types


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj).encode()


@dataclass(frozen=True)
class Violation:
    """One broken rule: the offending field, a description, and the RFC 7591 error code."""

    field: str
    description: str
    code: str = "invalid_client_metadata"

    def rfc7591(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.description}


def _check(ok: bool, field: str, description: str, code: str = "invalid_client_metadata") -> list[Violation]:
    return [] if ok else [Violation(field, description, code)]


def _oidc_violations(payload: Mapping[str, Any], url_ok: UrlRule) -> list[Violation]:
    grants = payload.get("grant_types")
    responses = payload.get("response_types")
    redirects = payload.get("redirect_uris")
    return [
        *_check(
            payload.get("application_type") == "web", "application_type", "application_type must be 'web'"
        ),
        *_check(
            is_string_list(grants) and all(g in grants for g in REQUIRED_GRANT_TYPES),
            "grant_types",
            "grant_types must be an array containing 'client_credentials' and 'implicit'",
        ),
        *_check(
            is_string_list(responses) and "id_token" in responses,
            "response_types",
            "response_types must be an array containing 'id_token'",
        ),
        *_check(
            isinstance(redirects, list) and bool(redirects) and all(url_ok(u) for u in redirects),
            "redirect_uris",
            "redirect_uris must be a non-empty array of absolute URLs",
            "invalid_redirect_uri",
        ),
        *_check(
            url_ok(payload.get("initiate_login_uri")),
            "initiate_login_uri",
            "initiate_login_uri must be a URL",
        ),
        *_check(
            isinstance(payload.get("client_name"), str) and bool(payload.get("client_name")),
            "client_name",
            "client_name is required",
        ),
        *_check(url_ok(payload.get("jwks_uri")), "jwks_uri", "jwks_uri must be a URL"),
        *_check("jwks" not in payload, "jwks", "inline jwks is not accepted; use jwks_uri"),
        *_check(
            payload.get("token_endpoint_auth_method") == "private_key_jwt",
            "token_endpoint_auth_method",
            "token_endpoint_auth_method must be 'private_key_jwt'",
        ),
        *_check(
            payload.get("scope") is None or isinstance(payload.get("scope"), str),
            "scope",
            "scope must be a space-separated string",
        ),
        *_optional_urls(payload, ("logo_uri", "client_uri", "tos_uri", "policy_uri"), url_ok),
        *_check(
            payload.get("contacts") is None or is_string_list(payload.get("contacts")),
            "contacts",
            "contacts must be an array of strings",
        ),
    ]


def _optional_urls(obj: Mapping[str, Any], keys: Collection[str], url_ok: UrlRule) -> list[Violation]:
    found: list[Violation] = []
    for key in keys:
        if obj.get(key) is not None:
            found += _check(url_ok(obj[key]), key, f"{key} must be a URL")
    return found


def _domain_ok(domain: Any) -> bool:
    return (
        isinstance(domain, str)
        and bool(domain)
        and "/" not in domain
        and not any(c.isspace() for c in domain)
    )


def _message_violations(index: int, message: Any, types: Collection[str], url_ok: UrlRule) -> list[Violation]:
    where = f"{TOOL_CONFIG_KEY}.messages[{index}]"
    if not isinstance(message, dict):
        return [Violation(where, f"{where} must be an object")]
    found = _check(
        message.get("type") in types, f"{where}.type", f"{where}.type must be one of {sorted(types)}"
    )
    found += _optional_urls(message, ("target_link_uri", "icon_uri"), url_ok)
    for key, rule in (
        ("placements", is_string_list),
        ("roles", is_string_list),
        ("custom_parameters", is_string_map),
    ):
        if key in message:
            found += _check(rule(message[key]), f"{where}.{key}", f"{where}.{key} has the wrong type")
    return found


def _tool_config_violations(config: Any, types: Collection[str], url_ok: UrlRule) -> list[Violation]:
    if not isinstance(config, dict):
        return [Violation(TOOL_CONFIG_KEY, f"{TOOL_CONFIG_KEY} is required and must be an object")]
    messages = config.get("messages", [])
    found = [
        *_check(_domain_ok(config.get("domain")), "domain", "domain is required, without protocol or path"),
        *_check(url_ok(config.get("target_link_uri")), "target_link_uri", "target_link_uri must be a URL"),
        *_check("deployment_id" not in config, "deployment_id", "deployment_id is set by the platform only"),
        *_check(
            config.get("claims") is None or is_string_list(config.get("claims")),
            "claims",
            "claims must be an array of strings",
        ),
        *_check(
            config.get("custom_parameters") is None or is_string_map(config.get("custom_parameters")),
            "custom_parameters",
            "custom_parameters values must be strings",
        ),
        *_check(isinstance(messages, list), "messages", "messages must be an array"),
    ]
    if isinstance(messages, list):
        for index, message in enumerate(messages):
            found += _message_violations(index, message, types, url_ok)
    return found


def spec_violations(
    payload: Any, message_types: Collection[str], url_ok: UrlRule = is_http_url
) -> list[Violation]:
    """Every LTI-DR 1.0 request rule (LTI-DR §3.5.2) that a registration request breaks, in field order."""
    if not isinstance(payload, dict):
        return [Violation("body", "the registration request must be a JSON object")]
    return [
        *_oidc_violations(payload, url_ok),
        *_tool_config_violations(payload.get(TOOL_CONFIG_KEY), message_types, url_ok),
    ]


def granted_scope(requested: Any, supported: Collection[str]) -> str:
    """The requested scopes the platform supports, in request order (the platform may grant fewer than asked)."""
    return " ".join(s for s in scope_list(requested) if s in supported and s != "openid")


def echo_registration(
    payload: Mapping[str, Any], client_id: str, deployment_id: str | None, scope: str | None = None
) -> dict[str, Any]:
    """The request as stored: a copy of it plus ``client_id`` and, if any, the tool-configuration
    ``deployment_id`` (LTI-DR §3.6: the answer is the request as the platform stored it)."""
    stored = copy.deepcopy(dict(payload))
    stored["client_id"] = client_id
    if scope is not None:
        stored["scope"] = scope
    config = stored.get(TOOL_CONFIG_KEY)
    if deployment_id is not None and isinstance(config, dict):
        config["deployment_id"] = deployment_id
    return stored
