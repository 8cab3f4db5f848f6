"""The tool's registration request (LTI-DR 1.0 step 3), built from the tenant's tool configuration and
what the platform says it supports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker.registration.platform_configuration import PlatformConfiguration
from tenants.tool_configuration import MessageConfiguration, ToolConfiguration

TOOL_CONFIGURATION_KEY = "https://purl.imsglobal.org/spec/lti-tool-configuration"


@dataclass(frozen=True)
class ToolEndpoints:
    """The broker's per-tenant URLs that a platform registers."""

    initiate_login_uri: str
    redirect_uri: str
    jwks_uri: str
    target_link_uri: str
    domain: str


@dataclass(frozen=True)
class RegistrationPlan:
    """What will be asked for, and what the tenant wanted but the platform does not offer."""

    scopes: tuple[str, ...]
    claims: tuple[str, ...]
    messages: tuple[MessageConfiguration, ...]
    unavailable_scopes: tuple[str, ...]
    unavailable_messages: tuple[str, ...]


def plan_registration(tool: ToolConfiguration, platform: PlatformConfiguration) -> RegistrationPlan:
    scopes, unavailable_scopes = _offered(tool.scopes, platform.scopes_supported)
    messages = tuple(m for m in tool.messages if platform.supports_message(m.type))
    unavailable_messages = tuple(m.type for m in tool.messages if not platform.supports_message(m.type))
    return RegistrationPlan(
        scopes=scopes,
        claims=tool.claims,
        messages=tuple(_fit_placements(m, platform) for m in messages),
        unavailable_scopes=unavailable_scopes,
        unavailable_messages=unavailable_messages,
    )


def _offered(wanted: tuple[str, ...], supported: tuple[str, ...] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # `openid` is never requested: Canvas refuses a registration whose scope contains it.
    wanted = tuple(scope for scope in wanted if scope != "openid")
    if supported is None:
        return wanted, ()
    return (
        tuple(scope for scope in wanted if scope in supported),
        tuple(scope for scope in wanted if scope not in supported),
    )


def _fit_placements(message: MessageConfiguration, platform: PlatformConfiguration) -> MessageConfiguration:
    offered = platform.placements_for(message.type)
    if offered is None or not message.placements:
        return message
    kept = tuple(placement for placement in message.placements if placement in offered)
    return MessageConfiguration(
        type=message.type,
        label=message.label,
        icon_uri=message.icon_uri,
        placements=kept,
        roles=message.roles,
        custom_parameters=message.custom_parameters,
    )


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
    if plan.scopes:
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
