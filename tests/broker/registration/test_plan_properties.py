"""The registration plan is the same as its first plain form (kept here as the reference) for any tool and any
platform's offer: the same scopes, messages and placements asked for and left out, in the same order."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.lti import DEEP_LINKING_REQUEST, RESOURCE_LINK_REQUEST
from broker.registration.platform_configuration import PlatformConfiguration, SupportedMessage
from broker.registration.request import PlatformOffer, RegistrationPlan, documented_offer, plan_registration
from tenants.tool_configuration import MessageConfiguration, ToolConfiguration
from tests.broker.registration.test_request import PLATFORM

PROPERTIES = settings(max_examples=300, deadline=None, database=None, derandomize=True)
SCOPES = ["openid", "a", "b", "c"]
TYPES = [RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST, "LtiStartProctoring"]
PLACEMENTS = ["ContentArea", "RichTextEditor", "CourseNavigation"]

placements = st.lists(st.sampled_from(PLACEMENTS), max_size=3).map(tuple)
tools = st.builds(
    ToolConfiguration,
    scopes=st.lists(st.sampled_from(SCOPES), max_size=5).map(tuple),
    messages=st.lists(st.builds(MessageConfiguration, st.sampled_from(TYPES), placements=placements), max_size=4).map(
        tuple
    ),
)
platforms = st.builds(
    lambda scopes, messages: replace(PLATFORM, scopes_supported=scopes, messages_supported=messages),
    st.none() | st.lists(st.sampled_from(SCOPES), max_size=4).map(tuple),
    st.none()
    | st.lists(
        st.builds(SupportedMessage, st.sampled_from(TYPES), st.none() | placements), max_size=3
    ).map(tuple),
)
offers = st.builds(
    PlatformOffer,
    scopes=st.none() | st.lists(st.sampled_from(SCOPES), max_size=4).map(tuple),
    message_types=st.none() | st.lists(st.sampled_from(TYPES), max_size=3).map(tuple),
    placements=st.dictionaries(st.sampled_from(TYPES), st.none() | placements.map(frozenset)),
)


@PROPERTIES
@given(tools, platforms)
def test_the_plan_from_the_platform_s_document_agrees_with_its_reference(
    tool: ToolConfiguration, platform: PlatformConfiguration
) -> None:
    assert documented_offer(platform) == _reference_offer(platform)
    assert plan_registration(tool, platform) == _reference_plan(tool, _reference_offer(platform))


@PROPERTIES
@given(tools, offers)
def test_the_plan_from_a_profile_s_offer_agrees_with_its_reference(
    tool: ToolConfiguration, offer: PlatformOffer
) -> None:
    assert plan_registration(tool, PLATFORM, offer) == _reference_plan(tool, offer)


# The reference: the plan as first written.
def _reference_offer(platform: PlatformConfiguration) -> PlatformOffer:
    messages = platform.messages_supported
    return PlatformOffer(
        scopes=platform.scopes_supported,
        message_types=None if messages is None else tuple(message.type for message in messages),
        placements={
            message.type: None if message.placements is None else frozenset(message.placements)
            for message in messages or ()
        },
    )


def _reference_plan(tool: ToolConfiguration, offer: PlatformOffer) -> RegistrationPlan:
    wanted = tuple(scope for scope in tool.scopes if scope != "openid")
    supported = offer.scopes
    scopes = wanted if supported is None else tuple(scope for scope in wanted if scope in supported)
    unavailable_scopes = () if supported is None else tuple(scope for scope in wanted if scope not in supported)
    messages = tuple(m for m in tool.messages if offer.supports_message(m.type))
    return RegistrationPlan(
        scopes=scopes,
        claims=tool.claims,
        messages=tuple(_fit_placements(m, offer.placements_for(m.type)) for m in messages),
        unavailable_scopes=unavailable_scopes,
        unavailable_messages=tuple(m.type for m in tool.messages if not offer.supports_message(m.type)),
        unavailable_placements=tuple(
            (m.type, placement)
            for m in messages
            for placement in m.placements
            if not _placement_offered(placement, offer.placements_for(m.type))
        ),
    )


def _placement_offered(placement: str, offered: frozenset[str] | None) -> bool:
    return offered is None or placement in offered


def _fit_placements(message: MessageConfiguration, offered: frozenset[str] | None) -> MessageConfiguration:
    kept = tuple(placement for placement in message.placements if _placement_offered(placement, offered))
    return message if kept == message.placements else replace(message, placements=kept)
