"""What a tenant's tool asks of a platform: messages, service scopes, identity claims, descriptive URLs.

Parsed from plain JSON-like data and validated field by field, so a tenant hears which field is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from broker import lti
from broker.refusals import FieldError

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_TEXT = 2000


class ToolConfigurationError(FieldError):
    """The tool's configuration breaks a rule; `field` names the offending key."""


@dataclass(frozen=True)
class MessageConfiguration:
    type: str
    label: str | None = None
    icon_uri: str | None = None
    placements: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolConfiguration:
    description: str | None = None
    logo_uri: str | None = None
    client_uri: str | None = None
    tos_uri: str | None = None
    policy_uri: str | None = None
    contacts: tuple[str, ...] = ()
    client_name_translations: dict[str, str] = field(default_factory=dict)
    scopes: tuple[str, ...] = (lti.AGS_LINEITEM, lti.AGS_RESULT_READONLY, lti.AGS_SCORE, lti.NRPS_MEMBERSHIPS)
    claims: tuple[str, ...] = ("iss", "sub", "name", "given_name", "family_name", "email")
    messages: tuple[MessageConfiguration, ...] = (
        MessageConfiguration(type=lti.RESOURCE_LINK_REQUEST),
        MessageConfiguration(type=lti.DEEP_LINKING_REQUEST, placements=(lti.CONTENT_AREA,)),
    )
    custom_parameters: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_DEFAULTS = ToolConfiguration()
_SETTINGS = frozenset(setting.name for setting in fields(ToolConfiguration))


def parse_tool_configuration(data: Mapping[str, Any] | None) -> ToolConfiguration:
    """The tenant's configuration from stored or submitted JSON; missing keys take the defaults."""
    data = dict(data or {})
    defaults = _DEFAULTS
    unknown = set(data) - _SETTINGS
    if unknown:
        raise ToolConfigurationError(sorted(unknown)[0], "unknown setting")
    return ToolConfiguration(
        description=_optional_text(data, "description"),
        logo_uri=_optional_url(data, "logo_uri"),
        client_uri=_optional_url(data, "client_uri"),
        tos_uri=_optional_url(data, "tos_uri"),
        policy_uri=_optional_url(data, "policy_uri"),
        contacts=tuple(_contact(value, f"contacts[{i}]") for i, value in enumerate(_list(data, "contacts"))),
        client_name_translations=_translations(data.get("client_name_translations") or {}),
        scopes=_scopes(data["scopes"]) if "scopes" in data else defaults.scopes,
        claims=_claims(data["claims"]) if "claims" in data else defaults.claims,
        messages=_messages(data["messages"]) if "messages" in data else defaults.messages,
        custom_parameters=_string_map(data.get("custom_parameters") or {}, "custom_parameters"),
    )


def _list(data: Mapping[str, Any], name: str) -> list[Any]:
    value = data.get(name) or []
    if not isinstance(value, list):
        raise ToolConfigurationError(name, "must be a list")
    return value


def _optional_text(data: Mapping[str, Any], name: str, where: str = "") -> str | None:
    """`data[name]`, stripped; an error names it as `where` + `name` (the path of `data` in the configuration)."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ToolConfigurationError(where + name, f"must be text of at most {MAX_TEXT} characters")
    return value.strip() or None


def _optional_url(data: Mapping[str, Any], name: str, where: str = "") -> str | None:
    value = _optional_text(data, name, where)
    if value is not None:
        check_absolute_url(value, where + name)
    return value


def check_absolute_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ToolConfigurationError(name, "must be an absolute http(s) URL")
    return value


def _contact(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value):
        raise ToolConfigurationError(name, "must be an e-mail address")
    return value


def _translations(value: Any) -> dict[str, str]:
    names = _string_map(value, "client_name_translations")
    for tag in names:
        if not _LANGUAGE_TAG.match(tag):
            raise ToolConfigurationError(f"client_name_translations.{tag}", "must be a BCP 47 language tag")
    return names


def _string_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ToolConfigurationError(name, "must be an object of strings")
    for key, item in value.items():
        # Canvas refuses non-string custom parameter values, and no platform documents other types.
        if not isinstance(key, str) or not key or not isinstance(item, str):
            raise ToolConfigurationError(f"{name}.{key}", "keys and values must be non-empty strings")
    return dict(value)


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ToolConfigurationError(name, "must be a list of non-empty strings")
    return tuple(dict.fromkeys(value))


def _scopes(value: Any) -> tuple[str, ...]:
    scopes = _strings(value, "scopes")
    for scope in scopes:
        if scope == "openid":
            raise ToolConfigurationError("scopes", "openid is implied and must not be requested")
        if not scope.startswith("https://"):
            raise ToolConfigurationError("scopes", f"{scope!r} is not a service scope URL")
    return scopes


def _claims(value: Any) -> tuple[str, ...]:
    claims = _strings(value, "claims")
    for claim in claims:
        if claim not in lti.IDENTITY_CLAIMS:
            raise ToolConfigurationError("claims", f"{claim!r} is not an OpenID Connect identity claim")
    return claims


def _messages(value: Any) -> tuple[MessageConfiguration, ...]:
    if not isinstance(value, list) or not value:
        raise ToolConfigurationError("messages", "must be a non-empty list")
    messages = tuple(_message(item, f"messages[{i}]") for i, item in enumerate(value))
    types = [message.type for message in messages]
    if len(set(types)) != len(types):
        raise ToolConfigurationError("messages", "each message type may appear once")
    return messages


def _message(value: Any, name: str) -> MessageConfiguration:
    if not isinstance(value, Mapping):
        raise ToolConfigurationError(name, "must be an object")
    unknown = set(value) - {"type", "label", "icon_uri", "placements", "roles", "custom_parameters"}
    if unknown:
        raise ToolConfigurationError(f"{name}.{sorted(unknown)[0]}", "unknown setting")
    if value.get("type") not in lti.LAUNCH_MESSAGE_TYPES:
        raise ToolConfigurationError(f"{name}.type", f"must be one of {', '.join(sorted(lti.LAUNCH_MESSAGE_TYPES))}")
    return MessageConfiguration(
        type=value["type"],
        label=_optional_text(value, "label", f"{name}."),
        icon_uri=_optional_url(value, "icon_uri", f"{name}."),
        placements=_strings(value.get("placements", []), f"{name}.placements"),
        roles=_strings(value.get("roles", []), f"{name}.roles"),
        custom_parameters=_string_map(value.get("custom_parameters") or {}, f"{name}.custom_parameters"),
    )
