"""The review step's items: which are optional, and a plan narrowed to what stayed ticked."""

from __future__ import annotations

from broker.lti import AGS_SCORE, DEEP_LINKING_REQUEST, NRPS_MEMBERSHIPS, RESOURCE_LINK_REQUEST
from broker.registration.request import RegistrationPlan
from broker.registration.review import narrow_plan, optional_keys, ticked
from tenants.tool_configuration import MessageConfiguration

PLAN = RegistrationPlan(
    scopes=(AGS_SCORE, NRPS_MEMBERSHIPS),
    claims=("iss", "sub", "name", "email", "locale"),
    messages=(
        MessageConfiguration(type=RESOURCE_LINK_REQUEST, placements=("course_navigation",)),
        MessageConfiguration(type=DEEP_LINKING_REQUEST, placements=("ContentArea", "RichTextEditor")),
    ),
    unavailable_scopes=(),
    unavailable_messages=(),
)
ALL = frozenset(optional_keys(PLAN))


def test_every_message_placement_scope_and_personal_claim_is_optional() -> None:
    assert optional_keys(PLAN) == (
        f"message:{RESOURCE_LINK_REQUEST}",
        f"placement:{RESOURCE_LINK_REQUEST}:course_navigation",
        f"message:{DEEP_LINKING_REQUEST}",
        f"placement:{DEEP_LINKING_REQUEST}:ContentArea",
        f"placement:{DEEP_LINKING_REQUEST}:RichTextEditor",
        f"scope:{AGS_SCORE}",
        f"scope:{NRPS_MEMBERSHIPS}",
        "claim:name",
        "claim:email",
    )


def test_everything_ticked_keeps_the_plan() -> None:
    assert narrow_plan(PLAN, ALL) == PLAN


def test_unticked_items_are_left_out_and_recorded() -> None:
    unticked = {f"scope:{NRPS_MEMBERSHIPS}", "claim:email", f"placement:{DEEP_LINKING_REQUEST}:ContentArea"}
    narrowed = narrow_plan(PLAN, ALL - unticked)
    assert narrowed.scopes == (AGS_SCORE,)
    assert narrowed.claims == ("iss", "sub", "name", "locale")
    assert narrowed.messages[1].placements == ("RichTextEditor",)
    assert set(narrowed.declined) == unticked


def test_an_unticked_message_takes_its_placements_along() -> None:
    narrowed = narrow_plan(PLAN, ALL - {f"message:{RESOURCE_LINK_REQUEST}"})
    assert [message.type for message in narrowed.messages] == [DEEP_LINKING_REQUEST]


def test_a_narrowed_plan_with_everything_ticked_again_declines_nothing() -> None:
    narrowed = narrow_plan(PLAN, ALL - {f"scope:{NRPS_MEMBERSHIPS}", f"placement:{DEEP_LINKING_REQUEST}:ContentArea"})

    again = narrow_plan(narrowed, frozenset(optional_keys(narrowed)))

    assert again.declined == ()
    assert again.scopes == (AGS_SCORE,)
    assert again.messages == narrowed.messages
    assert again.messages[1].placements == ("RichTextEditor",)


def test_keys_not_in_the_plan_add_nothing() -> None:
    forged = ALL | {"scope:https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting", "claim:picture"}
    assert narrow_plan(PLAN, frozenset(forged)) == PLAN


def test_only_review_fields_count_as_ticked() -> None:
    assert ticked(["state", "scope:x", "claim:email", "register", "other:y"]) == {"scope:x", "claim:email"}
