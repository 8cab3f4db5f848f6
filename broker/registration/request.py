"""The tool's registration request (LTI-DR 1.0 step 3), built from the tenant's tool configuration and
what the platform says it supports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from broker.lti import TOOL_CONFIGURATION_KEY
from broker.registration.platform_configuration import PlatformConfiguration
from tenants.tool_configuration import MessageConfiguration, ToolConfiguration


@dataclass(frozen=True)
class ToolEndpoints:
    """The broker's per-tenant URLs that a platform registers."""

    initiate_login_uri: str
    redirect_uri: str
    jwks_uri: str
    target_link_uri: str
    domain: str


@dataclass(frozen=True)
class PlatformOffer:
    """What a platform offers, as its profile reads the configuration; None wherever it does not say."""

    scopes: tuple[str, ...] | None
    message_types: tuple[str, ...] | None
    placements: Mapping[str, frozenset[str] | None] = field(default_factory=dict)

    def supports_message(self, message_type: str) -> bool:
        return self.message_types is None or message_type in self.message_types

    def placements_for(self, message_type: str) -> frozenset[str] | None:
        return self.placements.get(message_type)


def documented_offer(platform: PlatformConfiguration) -> PlatformOffer:
    """The offer exactly as the platform's document states it (the 1EdTech-strict reading)."""
    messages = platform.messages_supported
    if messages is None:
        return PlatformOffer(scopes=platform.scopes_supported, message_types=None)
    types = []
    placements: dict[str, frozenset[str] | None] = {}
    for message in messages:
        types.append(message.type)
        placements[message.type] = None if message.placements is None else frozenset(message.placements)
    return PlatformOffer(scopes=platform.scopes_supported, message_types=tuple(types), placements=placements)


@dataclass(frozen=True)
class RegistrationPlan:
    """What will be asked for, and what the tenant wanted but the platform does not offer."""

    scopes: tuple[str, ...]
    claims: tuple[str, ...]
    messages: tuple[MessageConfiguration, ...]
    unavailable_scopes: tuple[str, ...]
    unavailable_messages: tuple[str, ...]
    # (message type, placement) pairs the platform does not offer for that message.
    unavailable_placements: tuple[tuple[str, str], ...] = ()
    # Review items (see review.py) the LMS admin unticked.
    declined: tuple[str, ...] = ()


def plan_registration(
    tool: ToolConfiguration, platform: PlatformConfiguration, offer: PlatformOffer | None = None
) -> RegistrationPlan:
    """The tenant's wishes intersected with the platform's offer (its document's, unless a profile says more)."""
    offer = offer or documented_offer(platform)
    scopes, unavailable_scopes = _offered(tool.scopes, offer.scopes)
    messages = []
    unavailable_messages = []
    unavailable_placements = []
    for message in tool.messages:
        if not offer.supports_message(message.type):
            unavailable_messages.append(message.type)
            continue
        offered = offer.placements_for(message.type)
        if offered is None:
            messages.append(message)
            continue
        kept = []
        for placement in message.placements:
            if placement in offered:
                kept.append(placement)
            else:
                unavailable_placements.append((message.type, placement))
        messages.append(message if len(kept) == len(message.placements) else replace(message, placements=tuple(kept)))
    return RegistrationPlan(
        scopes=scopes,
        claims=tool.claims,
        messages=tuple(messages),
        unavailable_scopes=unavailable_scopes,
        unavailable_messages=tuple(unavailable_messages),
        unavailable_placements=tuple(unavailable_placements),
    )


def _offered(wanted: tuple[str, ...], supported: tuple[str, ...] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    kept = []
    unavailable = []
    for scope in wanted:
        # `openid` is never requested: Canvas refuses a registration whose scope contains it.
        if scope == "openid":
            continue
        if supported is None or scope in supported:
            kept.append(scope)
        else:
            unavailable.append(scope)
    return tuple(kept), tuple(unavailable)


def build_registration_request(
    *, client_name: str, tool: ToolConfiguration, plan: RegistrationPlan, endpoints: ToolEndpoints
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "application_type": "web",
        "grant_types": ["client_credentials", "implicit"],
        "response_types": ["id_token"],
        "redirect_uris": [endpoints.redirect_uri],
        "initiate_login_uri": endpoints.initiate_login_uri,
        "client_name": client_name,
        "jwks_uri": endpoints.jwks_uri,
        "token_endpoint_auth_method": "private_key_jwt",
    }
    for language, name in tool.client_name_translations.items():
        body[f"client_name#{language}"] = name
    for key in ("logo_uri", "client_uri", "tos_uri", "policy_uri"):
        if getattr(tool, key):
            body[key] = getattr(tool, key)
    if tool.contacts:
        body["contacts"] = list(tool.contacts)
    # Always sent, empty when no service is asked for: Canvas's 2024 controller split `scope` unconditionally
    # and failed on a body without it.
    body["scope"] = " ".join(plan.scopes)
    body[TOOL_CONFIGURATION_KEY] = _tool_configuration(tool, plan, endpoints)
    return body


def _tool_configuration(
    tool: ToolConfiguration, plan: RegistrationPlan, endpoints: ToolEndpoints
) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "domain": endpoints.domain,
        "target_link_uri": endpoints.target_link_uri,
        "claims": list(plan.claims),
        "messages": [_message(message, endpoints) for message in plan.messages],
    }
    if tool.description:
        configuration["description"] = tool.description
    if tool.custom_parameters:
        configuration["custom_parameters"] = dict(tool.custom_parameters)
    return configuration


def _message(message: MessageConfiguration, endpoints: ToolEndpoints) -> dict[str, Any]:
    # Every message launches through the broker, which relays it to the tenant's tool.
    item: dict[str, Any] = {"type": message.type, "target_link_uri": endpoints.target_link_uri}
    if message.label:
        item["label"] = message.label
    if message.icon_uri:
        item["icon_uri"] = message.icon_uri
    if message.placements:
        item["placements"] = list(message.placements)
    if message.roles:
        item["roles"] = list(message.roles)
    if message.custom_parameters:
        item["custom_parameters"] = dict(message.custom_parameters)
    return item
