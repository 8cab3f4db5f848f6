"""The platform's OpenID configuration (LTI-DR 1.0 step 2): one type, one validator.

Strict where security depends on it (issuer form, issuer host = configuration URL host, endpoint URLs),
lenient where real platforms differ from the letter of the spec (Moodle's bare-string messages, a platform
key with trailing whitespace, a missing `openid` in `scopes_supported`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any
from urllib.parse import SplitResult, urlsplit

from broker import stored_text
from broker.lti import PLATFORM_CONFIGURATION_KEY
from broker.refusals import FieldError
from broker.untrusted_json import is_string_list

PRODUCT_FAMILY_CODE_LENGTH = 100
VERSION_LENGTH = 200
# What the platform must support (LTI 1.3); a list that leaves one out is refused, a missing list assumed.
_CAPABILITIES = (
    ("token_endpoint_auth_methods_supported", "private_key_jwt"),
    ("token_endpoint_auth_signing_alg_values_supported", "RS256"),
    ("id_token_signing_alg_values_supported", "RS256"),
    ("response_types_supported", "id_token"),
)
_SECURE = frozenset({"https"})
_ANY = frozenset({"https", "http"})
PLAIN_HTTP_URL = re.compile(
    r"(https?)://([A-Za-z0-9.-]+)(?::[0-9]*)?(/[\w.~!$&'()*+,;=:@%/-]*)?(\?[\w.~!$&'()*+,;=:@%/?-]*)?", re.ASCII
)
"""An absolute http(s) URL of the plainest kind: lower-case scheme, a host of letters, digits, dots and hyphens,
maybe a port, a path and a query of ASCII URL characters (no fragment, no space, no credentials, nothing urlsplit
strips or normalizes). Its groups are the scheme, the host as written, the path and the query with its `?`. Most
platforms' URLs are of it: one match reads them as urlsplit would, which the other URLs are given to."""


@dataclass(frozen=True)
class IssuerException:
    """A platform whose launches carry an issuer on another host than its configuration document.

    Only a platform profile grants one, for a documented platform and a configuration host it trusts
    (profiles/blackboard.py); the issuer-host rule stays whole for every other document.
    """

    issuer: str
    reason: str


class PlatformConfigurationError(FieldError):
    """The platform's configuration cannot be used; `field` names the offending key."""


@dataclass(frozen=True)
class SupportedMessage:
    type: str
    placements: tuple[str, ...] | None = None


_MESSAGE_TYPE = attrgetter("type")


@dataclass(frozen=True)
class PlatformConfiguration:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    authorization_server: str | None
    scopes_supported: tuple[str, ...] | None
    claims_supported: tuple[str, ...] | None
    product_family_code: str | None
    version: str | None
    messages_supported: tuple[SupportedMessage, ...] | None
    variables: tuple[str, ...] | None
    document: dict[str, Any]
    warnings: tuple[str, ...] = field(default=())
    # The platform profile that read the document, and what it changed (see broker/registration/profiles/).
    profile: str = "generic"
    adaptations: tuple[str, ...] = field(default=())

    def supports_message(self, message_type: str) -> bool:
        if self.messages_supported is None:
            return True
        # `in` walks the types in C, where a generator made a Python call an item.
        return message_type in map(_MESSAGE_TYPE, self.messages_supported)

    def placements_for(self, message_type: str) -> tuple[str, ...] | None:
        """The placements the platform lists for a message type; None when it does not say."""
        for message in self.messages_supported or ():
            if message.type == message_type:
                return message.placements
        return None


def validate_platform_configuration(
    document: Any,
    *,
    configuration_url: str,
    allow_insecure: bool,
    issuer_exception: IssuerException | None = None,
) -> PlatformConfiguration:
    if not isinstance(document, (dict, Mapping)):
        raise PlatformConfigurationError("(document)", "the configuration is not a JSON object")
    schemes = _SECURE if not allow_insecure else _ANY
    issuer, issuer_host = _issuer(document, schemes)
    adaptations: list[str] = []
    if issuer_exception is None:
        _check_issuer_host(issuer_host, configuration_url)
    else:
        adaptations.append(
            f"issuer stored as {issuer_exception.issuer} (the document says {issuer}): {issuer_exception.reason}"
        )
        issuer = issuer_exception.issuer
    warnings: list[str] = []
    platform = _platform_object(document, warnings)
    for name, required in _CAPABILITIES:
        _check_capability(document, name, required, warnings)
    return PlatformConfiguration(
        issuer=issuer,
        authorization_endpoint=_endpoint(document, "authorization_endpoint", schemes),
        token_endpoint=_endpoint(document, "token_endpoint", schemes),
        jwks_uri=_endpoint(document, "jwks_uri", schemes),
        registration_endpoint=_endpoint(document, "registration_endpoint", schemes),
        authorization_server=_optional_string(document, "authorization_server", stored_text.URL_LENGTH),
        scopes_supported=_string_list(document, "scopes_supported"),
        claims_supported=_string_list(document, "claims_supported"),
        product_family_code=_optional_string(platform, "product_family_code", PRODUCT_FAMILY_CODE_LENGTH),
        version=_optional_string(platform, "version", VERSION_LENGTH),
        messages_supported=_messages_supported(platform),
        variables=_string_list(platform, "variables"),
        document=dict(document),
        warnings=tuple(warnings),
        adaptations=tuple(adaptations),
    )


def _issuer(document: Mapping[str, Any], schemes: frozenset[str]) -> tuple[str, str]:
    """The issuer and its host."""
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise PlatformConfigurationError("issuer", "is missing")
    _check_storable("issuer", issuer, stored_text.URL_LENGTH)
    plain = PLAIN_HTTP_URL.fullmatch(issuer)
    if plain is not None and plain[1] in schemes and plain[4] is None:
        return issuer, plain[2].lower()
    parts = _split(issuer)
    host = parts.hostname if parts is not None else None
    if parts is None or parts.scheme not in schemes or not host:
        raise PlatformConfigurationError("issuer", "must be an absolute https URL")
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
        raise PlatformConfigurationError("issuer", "must not have a query or a fragment")
    return issuer, host


def _check_issuer_host(issuer_host: str, configuration_url: str) -> None:
    # LTI-DR: the issuer's host must be the configuration URL's host, or an attacker's document could
    # claim another platform's issuer. Hostnames only (case-insensitive), as every library compares them.
    configuration_host = url_host(configuration_url)
    if issuer_host.lower() != configuration_host.lower():
        raise PlatformConfigurationError(
            "issuer",
            f"its host {issuer_host!r} differs from the host of the configuration URL "
            f"{configuration_host!r}; the spec forbids going on",
        )


def _endpoint(document: Mapping[str, Any], name: str, schemes: frozenset[str]) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise PlatformConfigurationError(name, "is missing")
    _check_storable(name, value, stored_text.URL_LENGTH)
    plain = PLAIN_HTTP_URL.fullmatch(value)
    if plain is not None and plain[1] in schemes:
        return value
    parts = _split(value)
    if parts is None or parts.scheme not in schemes or not parts.hostname or parts.fragment:
        raise PlatformConfigurationError(name, "must be an absolute https URL without a fragment")
    return value


def url_host(url: str) -> str:
    """The URL's host name as urlsplit reads it ("" for none)."""
    plain = PLAIN_HTTP_URL.fullmatch(url)
    if plain is not None:
        return plain[2].lower()
    return urlsplit(url).hostname or ""


def _split(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:  # unbalanced IPv6 brackets (https://[::1), a netloc that NFKC-normalizes to /?#@:
        return None


def _optional_string(document: Mapping[str, Any], name: str, max_length: int) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PlatformConfigurationError(name, "must be a string")
    _check_storable(name, value, max_length)
    return value


def _check_storable(name: str, value: str, max_length: int) -> None:
    problem = stored_text.problem(value, max_length)
    if problem is not None:
        raise PlatformConfigurationError(name, problem)


def _string_list(document: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = document.get(name)
    if value is None:
        return None
    if not is_string_list(value):
        raise PlatformConfigurationError(name, "must be a list of strings")
    return tuple(value)


def _check_capability(document: Mapping[str, Any], name: str, required: str, warnings: list[str]) -> None:
    values = _string_list(document, name)
    if values is None:
        warnings.append(f"{name} is missing; assuming {required} is supported")
    elif required not in values:
        raise PlatformConfigurationError(name, f"does not include {required}, which LTI 1.3 requires")


def _platform_object(document: Mapping[str, Any], warnings: list[str]) -> Mapping[str, Any]:
    # Older Moodle releases wrote the key with a trailing space; `in` passes over the other keys cheaply.
    for key, value in document.items():
        if isinstance(key, str) and PLATFORM_CONFIGURATION_KEY in key and key.strip() == PLATFORM_CONFIGURATION_KEY:
            if not isinstance(value, (dict, Mapping)):
                raise PlatformConfigurationError(PLATFORM_CONFIGURATION_KEY, "must be an object")
            return value
    warnings.append(f"{PLATFORM_CONFIGURATION_KEY} is missing; the platform's product is unknown")
    return {}


def _messages_supported(platform: Mapping[str, Any]) -> tuple[SupportedMessage, ...] | None:
    value = platform.get("messages_supported")
    if value is None:
        return None
    if not isinstance(value, list):
        raise PlatformConfigurationError("messages_supported", "must be a list")
    return tuple(_supported_message(item) for item in value)


def _supported_message(item: Any) -> SupportedMessage:
    # Moodle lists bare strings; the spec lists objects with a type and optional placements.
    if isinstance(item, str):
        return SupportedMessage(type=item)
    if isinstance(item, (dict, Mapping)) and isinstance(item.get("type"), str):
        placements = item.get("placements")
        if placements is not None and not is_string_list(placements):
            raise PlatformConfigurationError("messages_supported.placements", "must be a list of strings")
        return SupportedMessage(type=item["type"], placements=tuple(placements) if placements else None)
    raise PlatformConfigurationError("messages_supported", "each entry must be a string or an object with a type")
