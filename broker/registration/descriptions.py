"""Plain-English names for what a tool asks of a platform, shown to the LMS admin."""

from __future__ import annotations

from broker.lti import (
    AGS_LINEITEM,
    AGS_LINEITEM_READONLY,
    AGS_RESULT_READONLY,
    AGS_SCORE,
    CONTENT_AREA,
    DEEP_LINKING_REQUEST,
    NRPS_MEMBERSHIPS,
    RESOURCE_LINK_REQUEST,
    RICH_TEXT_EDITOR,
    SUBMISSION_REVIEW_REQUEST,
    TOOL_SETTINGS,
)

SCOPES = {
    AGS_LINEITEM: "Create and manage gradebook columns",
    AGS_LINEITEM_READONLY: "Read gradebook columns",
    AGS_RESULT_READONLY: "Read grades",
    AGS_SCORE: "Send scores to the gradebook",
    NRPS_MEMBERSHIPS: "Read course rosters (names and roles)",
    TOOL_SETTINGS: "Store tool settings",
}

MESSAGES = {
    RESOURCE_LINK_REQUEST: "Launch from a course link",
    DEEP_LINKING_REQUEST: "Add content to courses (Deep Linking)",
    SUBMISSION_REVIEW_REQUEST: "Review submissions",
}

CANVAS_PLACEMENT_PREFIX = "https://canvas.instructure.com/lti/"

# The placements the LTI-DR spec names; platforms' own names are shown as they are, in words.
PLACEMENTS = {
    CONTENT_AREA: "Course content (link selection)",
    RICH_TEXT_EDITOR: "Rich text editor",
}

CLAIMS = {
    "iss": "Platform identity",
    "sub": "An opaque user id",
    "name": "Full name",
    "given_name": "Given name",
    "family_name": "Family name",
    "middle_name": "Middle name",
    "nickname": "Nickname",
    "email": "E-mail address",
    "picture": "Profile picture",
    "locale": "Language",
}


def describe_scope(scope: str) -> str:
    return SCOPES.get(scope, scope)


def describe_message(message_type: str) -> str:
    return MESSAGES.get(message_type, message_type)


def describe_claim(claim: str) -> str:
    return CLAIMS.get(claim, claim)


def describe_placement(placement: str) -> str:
    """`ContentArea` and Canvas's `course_navigation` (bare or URL-prefixed) in words."""
    name = PLACEMENTS.get(placement)
    if name is None:
        name = placement.removeprefix(CANVAS_PLACEMENT_PREFIX).replace("_", " ").capitalize()
    return name
