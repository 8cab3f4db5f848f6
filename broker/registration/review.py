"""The LMS admin's review: which parts of a registration plan are optional, and the plan narrowed to what
stayed ticked.

Every optional item is a checkbox, ticked by default, named by its key. Unticking can only leave things out:
the narrowed plan never holds anything the plan did not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from broker.lti import PERSONAL_CLAIMS
from broker.registration.request import RegistrationPlan
from tenants.tool_configuration import MessageConfiguration

KINDS = ("message", "placement", "scope", "claim")


def message_key(message_type: str) -> str:
    return f"message:{message_type}"


def placement_key(message_type: str, placement: str) -> str:
    return f"placement:{message_type}:{placement}"


def scope_key(scope: str) -> str:
    return f"scope:{scope}"


def claim_key(claim: str) -> str:
    return f"claim:{claim}"


def is_optional_claim(claim: str) -> bool:
    # iss and sub identify the launch; only personal data is the admin's to withhold.
    return claim in PERSONAL_CLAIMS


def optional_keys(plan: RegistrationPlan) -> tuple[str, ...]:
    """The checkboxes of the review form for this plan."""
    keys = []
    for message in plan.messages:
        keys.append(message_key(message.type))
        keys += [placement_key(message.type, placement) for placement in message.placements]
    keys += [scope_key(scope) for scope in plan.scopes]
    keys += [claim_key(claim) for claim in plan.claims if is_optional_claim(claim)]
    return tuple(keys)


def ticked(field_names: Iterable[str]) -> frozenset[str]:
    """The review items among a submitted form's field names (a ticked checkbox is a present field)."""
    return frozenset(name for name in field_names if name.partition(":")[0] in KINDS)


def narrow_plan(plan: RegistrationPlan, included: frozenset[str]) -> RegistrationPlan:
    """The plan without the optional items that are not in `included`."""
    declined = tuple(key for key in optional_keys(plan) if key not in included)
    if not declined and not plan.declined:
        return plan  # everything stayed ticked (the usual post): nothing to leave out
    messages = tuple(
        _narrow_placements(message, included) for message in plan.messages if message_key(message.type) in included
    )
    return replace(
        plan,
        messages=messages,
        scopes=tuple(scope for scope in plan.scopes if scope_key(scope) in included),
        claims=tuple(c for c in plan.claims if not is_optional_claim(c) or claim_key(c) in included),
        declined=declined,
    )


def _narrow_placements(message: MessageConfiguration, included: frozenset[str]) -> MessageConfiguration:
    kept = tuple(p for p in message.placements if placement_key(message.type, p) in included)
    return message if kept == message.placements else replace(message, placements=kept)
