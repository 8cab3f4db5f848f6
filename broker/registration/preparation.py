"""A registration request made ready for one platform: planned from the tenant's wishes and the platform's
offer, narrowed by the admin's review, built, adapted by the platform's profile, and checked against what
the platform is known to refuse, so that a request it would refuse is never sent. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from broker.registration import errors
from broker.registration.platform_configuration import PlatformConfiguration
from broker.registration.profiles.profile import PlatformProfile, Problem, RequestContext
from broker.registration.profiles.selection import profile_named
from broker.registration.request import (
    RegistrationPlan,
    ToolEndpoints,
    build_registration_request,
    plan_registration,
)
from broker.registration.response import RegistrationResult, parse_registration_response
from broker.registration.review import narrow_plan
from tenants.tool_configuration import ToolConfiguration, ToolConfigurationError, parse_tool_configuration


@dataclass(frozen=True)
class PreparedRegistration:
    profile: PlatformProfile
    plan: RegistrationPlan
    request: dict[str, Any]
    # What the profile changed and what the admin left out, in plain English: shown and stored.
    notes: tuple[str, ...]


def read_tool_configuration(data: Mapping[str, Any] | None) -> ToolConfiguration:
    """The tenant's stored configuration; a bad one (saved before a rule existed) is a page, not a crash.

    Each step of a registration reads it; a configuration read before is not checked again. It is JSON, so its
    `repr` tells it apart from any other, and what it gives is frozen (its dicts are copied into each request).
    """
    key = repr(data)
    configuration = _READ.get(key)
    if configuration is not None:
        return configuration
    try:
        configuration = parse_tool_configuration(data)
    except ToolConfigurationError as error:
        raise errors.ToolConfigurationInvalidError(
            f"The tool's configuration is invalid: {error.field}: {error.reason}.",
            field=f"tool_configuration.{error.field}",
        ) from error
    if len(_READ) >= _READ_KEPT:
        _READ.clear()
    _READ[key] = configuration
    return configuration


# Configurations read, by their text (a tenant's changes make new ones: the set is emptied when full).
_READ: dict[str, ToolConfiguration] = {}
_READ_KEPT = 1024


def prepare_registration(
    *,
    platform: PlatformConfiguration,
    tool: ToolConfiguration,
    client_name: str,
    endpoints: ToolEndpoints,
    has_registration_token: bool,
    allow_insecure: bool,
    included: frozenset[str] | None = None,
) -> PreparedRegistration:
    """The request for this platform; `included` holds the review items left ticked (None: no review)."""
    profile = profile_named(platform.profile)
    plan = plan_registration(tool, platform, profile.offer(platform))
    if included is not None:
        plan = narrow_plan(plan, included)
    built = build_registration_request(client_name=client_name, tool=tool, plan=plan, endpoints=endpoints)
    adapted = profile.adapt_request(built, platform)
    context = RequestContext(platform, tool, has_registration_token, allow_insecure)
    problems = (*_flow_problems(profile, plan, context), *profile.check_request(adapted.request, context))
    if problems:
        raise errors.RequestNotSentError(describe_problems(profile, problems), field=problems[0].field)
    if not plan.declined:
        return PreparedRegistration(profile, plan, adapted.request, adapted.notes)
    declined = tuple(f"left out at the review: {key}" for key in plan.declined)
    return PreparedRegistration(profile, plan, adapted.request, (*adapted.notes, *declined))


def _flow_problems(profile: PlatformProfile, plan: RegistrationPlan, context: RequestContext) -> list[Problem]:
    problems = []
    if profile.needs_registration_token and not context.has_registration_token:
        problems.append(
            Problem(
                "registration_token",
                f"{profile.title} accepts a registration only with the registration_token it adds to the "
                "registration URL, and none came; start from the LMS's own registration page",
            )
        )
    if not plan.messages:
        problems.append(
            Problem(
                "messages", "no kind of launch is left: the platform offers none of the tool's, or all were unticked"
            )
        )
    return problems


def describe_problems(profile: PlatformProfile, problems: tuple[Problem, ...]) -> str:
    listed = "; ".join(f"{problem.field}: {problem.reason}" for problem in problems)
    return f"{profile.title} would refuse this registration, so it was not sent. {listed}."


def read_answer(prepared: PreparedRegistration, status_code: int, body: bytes) -> RegistrationResult:
    """The platform's answer; an answer without `scope` means what its profile says it means."""
    result = parse_registration_response(status_code, body)
    if result.scopes_granted is None and prepared.profile.answer_without_scope == "nothing_granted":
        return replace(result, scopes_granted=())
    return result
