"""What a platform profile is: plain data and pure functions that fit LTI-DR to one LMS's known behaviour.

A profile reads the platform's configuration (the documented exceptions live here, never in the general
rules), says what the platform offers, adapts the registration request, checks it against what the platform
is known to refuse before anything is sent, and reads the answer. No I/O: the service does that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from broker.registration.platform_configuration import PlatformConfiguration
from broker.registration.request import PlatformOffer
from tenants.tool_configuration import ToolConfiguration


@dataclass(frozen=True)
class ConfigurationSource:
    """Where a platform configuration came from: its URL, and whether insecure (dev) platforms are allowed."""

    configuration_url: str
    allow_insecure: bool


@dataclass(frozen=True)
class RequestContext:
    """What a request check may consult beyond the request itself."""

    platform: PlatformConfiguration
    tool: ToolConfiguration
    has_registration_token: bool
    allow_insecure: bool


@dataclass(frozen=True)
class Problem:
    """One reason the platform would refuse the request; `field` names the part of the request."""

    field: str
    reason: str


@dataclass(frozen=True)
class Adapted:
    """A request after the profile's changes, and a plain-English note for each change."""

    request: dict[str, Any]
    notes: tuple[str, ...] = ()


ReadConfiguration = Callable[[Mapping[str, Any], ConfigurationSource], PlatformConfiguration]
Offer = Callable[[PlatformConfiguration], PlatformOffer]
AdaptRequest = Callable[[dict[str, Any], PlatformConfiguration], Adapted]
CheckRequest = Callable[[Mapping[str, Any], RequestContext], tuple[Problem, ...]]
ExplainRefusal = Callable[[int, str], str | None]
Audience = Callable[[str, str | None], str]


@dataclass(frozen=True)
class PlatformProfile:
    name: str
    title: str
    # product_family_code values that select the profile (compared case-insensitively).
    product_family_codes: frozenset[str]
    read_configuration: ReadConfiguration
    offer: Offer
    adapt_request: AdaptRequest
    check_request: CheckRequest
    explain_refusal: ExplainRefusal
    # The `aud` of a client assertion at the platform's token endpoint, from (token_endpoint, authorization_server).
    client_assertion_audience: Audience
    # Configuration hosts that identify the platform whatever its document says.
    configuration_hosts: frozenset[str] = frozenset()
    # The platform refuses a registration without a Bearer registration_token (the spec makes it optional).
    needs_registration_token: bool = False
    # Whether an answer without `scope` means nothing was granted (a platform that always echoes it) or that
    # the platform did not say (then what was asked is taken as granted).
    answer_without_scope: Literal["granted_as_asked", "nothing_granted"] = "granted_as_asked"
