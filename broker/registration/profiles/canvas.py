"""Canvas (instructure/canvas-lms): JSON-schema validation with allow-lists, and its own extensions.

Facts (docs/platforms.md, Canvas; `lib/schemas/lti/ims/lti_tool_configuration.rb`,
`app/models/lti/ims/registration.rb`, `app/models/lti/resource_placement.rb`, `lib/token_scopes.rb`):
- the POST needs a Bearer registration token (401 otherwise);
- the tool configuration must have `domain` (a host name, optional `:port`), `messages` and `claims`;
- message types and placements come from enums: Canvas placement names, their
  `https://canvas.instructure.com/lti/<name>` forms, `ContentArea` (= link_selection) and `RichTextEditor`
  (= editor_button); anything else fails the schema (422);
- custom parameter values must be strings; every scope must be on Canvas's LTI scope list; `openid` in `scope`
  was refused (422) by a 2024 build and is dropped by newer ones, so it is never sent;
- `https://canvas.instructure.com/lti/privacy_level` says which personal data launches carry; Canvas infers
  it from `claims` when it is absent (picture, or name and e-mail: public; ...);
- a message without placements gets `link_selection`, and of several messages at one placement Canvas keeps
  the first only (`registration.rb`, `placements`): a resource-link message without placements beside a
  deep-linking one at `ContentArea` would take the deep-linking message's place, so it is given one of its own;
- the answer always carries `scope` (what was stored, plus `openid`) and may carry `deployment_id` at the top;
- it publishes a bare host as `authorization_server` but checks a client assertion's `aud` against its token
  endpoint's URL (`app/controllers/security_controller.rb`, `lib/canvas/oauth/client_credentials_provider.rb`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from broker.lti import (
    AGS_LINEITEM,
    AGS_LINEITEM_READONLY,
    AGS_RESULT_READONLY,
    AGS_SCORE,
    CONTENT_AREA,
    DEEP_LINKING_REQUEST,
    NOTICE_HANDLERS,
    NRPS_MEMBERSHIPS,
    RESOURCE_LINK_REQUEST,
    RICH_TEXT_EDITOR,
    TOOL_CONFIGURATION_KEY,
)
from broker.registration.platform_configuration import PlatformConfiguration
from broker.registration.profiles import generic
from broker.registration.profiles.profile import Adapted, Problem, RequestContext
from broker.registration.request import PlatformOffer, documented_offer

CANVAS_LTI = "https://canvas.instructure.com/lti/"
PRIVACY_LEVEL = CANVAS_LTI + "privacy_level"
PRIVACY_LEVELS = frozenset({"public", "name_only", "email_only", "anonymous"})
# Where a resource link without placements goes when `link_selection` belongs to another message: the course
# navigation, hidden until a teacher shows it (Canvas reads `default_enabled` for that placement only).
RESOURCE_LINK_PLACEMENT = "course_navigation"
COURSE_NAVIGATION_DEFAULT_ENABLED = CANVAS_LTI + "course_navigation/default_enabled"
# The placements the LTI-DR spec names, and the Canvas placements they become.
SPEC_PLACEMENTS = {CONTENT_AREA: "link_selection", RICH_TEXT_EDITOR: "editor_button"}
MESSAGE_TYPES = frozenset({RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST})
# Lti::ResourcePlacement::PLACEMENTS (newest stored revision); the document lists them too, minus hidden ones.
PLACEMENTS = frozenset(
    {
        "account_navigation", "analytics_hub", "assignment_edit", "assignment_group_menu", "assignment_index_menu",
        "assignment_menu", "assignment_selection", "assignment_view", "collaboration", "conference_selection",
        "course_assignments_menu", "course_home_sub_navigation", "course_navigation",
        "course_settings_sub_navigation", "discussion_topic_index_menu", "discussion_topic_menu", "editor_button",
        "file_index_menu", "file_menu", "global_navigation", "homework_submission", "link_selection",
        "migration_selection", "module_group_menu", "module_index_menu", "module_index_menu_modal",
        "module_menu_modal", "module_menu", "post_grades", "quiz_index_menu", "quiz_menu", "resource_selection",
        "similarity_detection", "student_context_card", "submission_type_selection", "tool_configuration",
        "top_navigation", "user_navigation", "wiki_index_menu", "wiki_page_menu",
    }
)  # fmt: skip
# TokenScopes::LTI_SCOPES: what a registration may ask for, when the document does not list its own.
SCOPES = frozenset(
    {
        AGS_LINEITEM,
        AGS_LINEITEM_READONLY,
        AGS_RESULT_READONLY,
        AGS_SCORE,
        NRPS_MEMBERSHIPS,
        NOTICE_HANDLERS,
        "https://canvas.instructure.com/lti/public_jwk/scope/update",
        "https://canvas.instructure.com/lti/account_lookup/scope/show",
        "https://canvas.instructure.com/lti-ags/progress/scope/show",
        "https://canvas.instructure.com/lti/page_content/show",
    }
)
_LABEL = r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
DOMAIN = re.compile(rf"^({_LABEL}\.)*{_LABEL}(:[0-9]{{1,5}})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def placement_forms(names: Iterable[str]) -> frozenset[str]:
    """Every way a registration may name these Canvas placements: bare, prefixed, and the spec's names."""
    names = set(names)
    spec = {spec_name for spec_name, canvas_name in SPEC_PLACEMENTS.items() if canvas_name in names}
    return frozenset(names | {CANVAS_LTI + name for name in names} | spec)


def offer(platform: PlatformConfiguration) -> PlatformOffer:
    documented = documented_offer(platform)
    scopes = documented.scopes if documented.scopes is not None else tuple(sorted(SCOPES))
    placements = {
        message_type: None if listed is None else placement_forms(listed)
        for message_type, listed in documented.placements.items()
    }
    return PlatformOffer(
        scopes=tuple(scope for scope in scopes if scope != "openid"),
        message_types=documented.message_types,
        placements=placements,
    )


def privacy_level(claims: Iterable[str]) -> str:
    """The privacy level matching the claims asked for, by the rule Canvas applies when none is sent."""
    claims = set(claims)
    has_name = bool(claims & {"name", "given_name", "family_name"})
    has_email = "email" in claims
    if "picture" in claims or (has_name and has_email):
        return "public"
    if has_name:
        return "name_only"
    return "email_only" if has_email else "anonymous"


def canvas_placement(placement: str) -> str:
    """The Canvas placement a registration's placement name becomes."""
    return SPEC_PLACEMENTS.get(placement, placement.removeprefix(CANVAS_LTI))


def adapt_request(request: dict[str, Any], platform: PlatformConfiguration) -> Adapted:
    configuration = dict(request[TOOL_CONFIGURATION_KEY])
    level = privacy_level(configuration.get("claims", []))
    configuration[PRIVACY_LEVEL] = level
    notes = [f"Canvas privacy level {level}, from the personal data asked for"]
    messages, placed = _placed_apart(configuration.get("messages", []))
    if placed:
        configuration["messages"] = messages
        notes.append(
            f"{placed}: placed at Canvas's {RESOURCE_LINK_PLACEMENT} (hidden until a teacher shows it), since "
            "Canvas gives a message without placements link_selection, which the deep-linking message holds"
        )
    return Adapted({**request, TOOL_CONFIGURATION_KEY: configuration}, tuple(notes))


def _placed_apart(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """The messages with a placement of its own for a resource link that would lose Canvas's link_selection."""
    others = [message for message in messages if not _placementless_resource_link(message)]
    taken = {canvas_placement(p) for message in others for p in message.get("placements") or ["link_selection"]}
    if "link_selection" not in taken:
        return messages, None
    adapted, placed = [], None
    for message in messages:
        if _placementless_resource_link(message):
            message = {
                **message, "placements": [RESOURCE_LINK_PLACEMENT], COURSE_NAVIGATION_DEFAULT_ENABLED: False
            }
            placed = RESOURCE_LINK_REQUEST
        adapted.append(message)
    return adapted, placed


def _placementless_resource_link(message: Mapping[str, Any]) -> bool:
    return message.get("type") == RESOURCE_LINK_REQUEST and not message.get("placements")


def check_request(request: Mapping[str, Any], context: RequestContext) -> tuple[Problem, ...]:
    problems = list(generic.spec_problems(request, context))
    problems += _scope_problems(request.get("scope"), offer(context.platform).scopes or ())
    problems += [
        Problem("contacts", f"Canvas accepts e-mail addresses only, not {contact!r}")
        for contact in request.get("contacts", [])
        if not (isinstance(contact, str) and _EMAIL.match(contact))
    ]
    configuration = request.get(TOOL_CONFIGURATION_KEY)
    if isinstance(configuration, Mapping):
        problems += _configuration_problems(configuration, _known_placements(context.platform))
    return tuple(problems)


def _scope_problems(scope: Any, allowed: Iterable[str]) -> list[Problem]:
    unknown = [s for s in (scope.split() if isinstance(scope, str) else []) if s not in set(allowed)]
    return [Problem("scope", f"Canvas refuses scopes outside its list: {' '.join(unknown)}")] if unknown else []


def _known_placements(platform: PlatformConfiguration) -> frozenset[str]:
    listed = {p for message in platform.messages_supported or () for p in message.placements or ()}
    return placement_forms(PLACEMENTS | listed)


def _configuration_problems(configuration: Mapping[str, Any], placements: frozenset[str]) -> list[Problem]:
    where = TOOL_CONFIGURATION_KEY
    problems = [
        Problem(f"{where}.{key}", "is required by Canvas")
        for key in ("domain", "messages", "claims")
        if key not in configuration
    ]
    domain = configuration.get("domain")
    if isinstance(domain, str) and not DOMAIN.match(domain):
        problems.append(Problem(f"{where}.domain", f"Canvas accepts a host name with an optional port, not {domain!r}"))
    if configuration.get(PRIVACY_LEVEL, "public") not in PRIVACY_LEVELS:
        problems.append(Problem(f"{where}.{PRIVACY_LEVEL}", f"must be one of {', '.join(sorted(PRIVACY_LEVELS))}"))
    for index, message in enumerate(configuration.get("messages") or []):
        problems += _message_problems(message, f"{where}.messages[{index}]", placements)
    return problems


def _message_problems(message: Any, where: str, placements: frozenset[str]) -> list[Problem]:
    if not isinstance(message, Mapping):
        return []
    problems = []
    if message.get("type") not in MESSAGE_TYPES:
        problems.append(Problem(f"{where}.type", f"Canvas accepts {' and '.join(sorted(MESSAGE_TYPES))} only"))
    unknown = [p for p in message.get("placements") or [] if p not in placements]
    if unknown:
        problems.append(Problem(f"{where}.placements", f"Canvas does not know the placement {', '.join(unknown)}"))
    return problems


def explain_refusal(status_code: int, text: str) -> str | None:
    if status_code == 401:
        return "Canvas registration tokens last an hour. Start again from Canvas's Developer Keys or Apps page."
    if status_code == 422:
        return "Canvas refused the registration's content; send the message above to the tool's vendor."
    return None


def client_assertion_audience(token_endpoint: str, authorization_server: str | None) -> str:
    return token_endpoint


PROFILE = replace(
    generic.PROFILE,
    name="canvas",
    title="Canvas",
    product_family_codes=frozenset({"canvas"}),
    offer=offer,
    adapt_request=adapt_request,
    check_request=check_request,
    explain_refusal=explain_refusal,
    client_assertion_audience=client_assertion_audience,
    needs_registration_token=True,
    answer_without_scope="nothing_granted",
)
