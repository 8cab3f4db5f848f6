"""What the registration's two pages show, made ready in Python: each label, field name and list as plain
strings and tuples, so that their templates only place them, escaped (Jinja2 autoescapes every one).

A template that calls helpers (`describe_scope(scope)`), filters (`reject`, `lower`) and looks attributes up
pays Jinja2's runtime for each: the review page made 26 such calls a render, more than its markup cost.
"""

from __future__ import annotations

from typing import Any

from broker.registration import descriptions, review
from broker.registration.models import RegistrationStatus
from broker.registration.platform_configuration import PlatformConfiguration
from broker.registration.profiles.profile import PlatformProfile
from broker.registration.request import RegistrationPlan

# A label with the field name of its checkbox (None: shown, not optional).
Item = tuple[str | None, str]


def review_page(
    tool_name: str,
    platform: PlatformConfiguration,
    profile: PlatformProfile,
    plan: RegistrationPlan,
    notes: tuple[str, ...],
) -> dict[str, Any]:
    """The review page's values, but for its form's action and state."""
    describe_message, describe_placement = descriptions.describe_message, descriptions.describe_placement
    return {
        "title": f"Register {tool_name}",
        "tool_name": tool_name,
        **_platform_lines(platform, profile),
        "issuer": platform.issuer,
        "messages": tuple(
            (
                review.message_key(message.type),
                describe_message(message.type),
                tuple(
                    (review.placement_key(message.type, placement), describe_placement(placement))
                    for placement in message.placements
                ),
            )
            for message in plan.messages
        ),
        "scopes": tuple((review.scope_key(scope), descriptions.describe_scope(scope)) for scope in plan.scopes),
        # iss and sub identify the launch: not listed as personal data.
        "personal": tuple(_claim(claim) for claim in plan.claims if claim not in ("iss", "sub")),
        "unavailable": (
            *((descriptions.describe_scope(scope), None) for scope in plan.unavailable_scopes),
            *((describe_message(message), None) for message in plan.unavailable_messages),
            *(
                (describe_placement(placement), describe_message(message_type))
                for message_type, placement in plan.unavailable_placements
            ),
        ),
        "adapted": (*platform.adaptations, *notes),
        "warnings": platform.warnings,
    }


def registered_page(
    tool_name: str,
    platform: PlatformConfiguration,
    profile: PlatformProfile,
    plan: RegistrationPlan,
    issuer: str,
    client_id: str,
    deployment_ids: list[str],
    status: str,
    scopes_requested: list[str],
    scopes_missing: list[str],
) -> dict[str, Any]:
    """The confirmation page's values, but for its Verify form and closing."""
    describe_scope = descriptions.describe_scope
    return {
        "title": f"{tool_name} is registered",
        "tool_name": tool_name,
        **_platform_lines(platform, profile),
        "issuer": issuer,
        "client_id": client_id,
        "deployment_ids": ", ".join(deployment_ids),
        "pending": status == RegistrationStatus.PENDING,
        "requested": (
            *(descriptions.describe_message(message.type) for message in plan.messages),
            *(describe_scope(scope) for scope in scopes_requested),
        ),
        "scopes_missing": tuple(describe_scope(scope) for scope in scopes_missing),
        "adaptations": platform.adaptations,
    }


def _platform_lines(platform: PlatformConfiguration, profile: PlatformProfile) -> dict[str, str]:
    name = platform.product_family_code or "unknown product"
    return {
        "profile_title": profile.title,
        "platform_name": f"{name} {platform.version}" if platform.version else name,
    }


def _claim(claim: str) -> Item:
    label = descriptions.describe_claim(claim).lower()
    return (review.claim_key(claim) if review.is_optional_claim(claim) else None), label
