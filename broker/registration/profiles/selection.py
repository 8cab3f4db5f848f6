"""Which platform profile reads a platform's configuration: by configuration host, then by product family code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from broker.lti import PLATFORM_CONFIGURATION_KEY
from broker.registration.platform_configuration import (
    PlatformConfiguration,
    url_host,
    validate_platform_configuration,
)
from broker.registration.profiles import blackboard, brightspace, canvas, generic, moodle, sakai, schoology
from broker.registration.profiles.profile import ConfigurationSource, PlatformProfile

PROFILES: tuple[PlatformProfile, ...] = (
    moodle.PROFILE,
    canvas.PROFILE,
    blackboard.PROFILE,
    brightspace.PROFILE,
    sakai.PROFILE,
    schoology.PROFILE,
)
_BY_NAME = {profile.name: profile for profile in (*PROFILES, generic.PROFILE)}
_PLATFORM_KEYS = (PLATFORM_CONFIGURATION_KEY, blackboard.KB_PLATFORM_KEY)
_PLATFORM_PATH = "spec/lti-platform-configuration"


def select_profile(document: Mapping[str, Any], source: ConfigurationSource) -> PlatformProfile:
    host = url_host(source.configuration_url).lower()
    for profile in PROFILES:
        if host in profile.configuration_hosts:
            return profile
    code = (product_family_code(document) or "").lower()
    for profile in PROFILES:
        if code in profile.product_family_codes:
            return profile
    return generic.PROFILE


def product_family_code(document: Mapping[str, Any]) -> str | None:
    """The product named in the document, wherever a known platform puts its platform object."""
    for key, value in document.items():
        # Old Moodle adds a trailing space to the key; Anthology's KB shows it as `URL/spec/...`. Both end in
        # the same path, so `in` passes over the other keys cheaply.
        if isinstance(key, str) and _PLATFORM_PATH in key and key.strip() in _PLATFORM_KEYS:
            code = value.get("product_family_code") if isinstance(value, (dict, Mapping)) else None
            return code if isinstance(code, str) else None
    return None


def read_platform_configuration(
    document: Any, *, configuration_url: str, allow_insecure: bool
) -> PlatformConfiguration:
    """The platform's configuration as its profile reads it; `profile` on the result names the profile."""
    if not isinstance(document, (dict, Mapping)):
        return validate_platform_configuration(
            document, configuration_url=configuration_url, allow_insecure=allow_insecure
        )
    source = ConfigurationSource(configuration_url, allow_insecure)
    profile = select_profile(document, source)
    platform = profile.read_configuration(document, source)
    # The generic profile's reading names it already.
    return platform if platform.profile == profile.name else replace(platform, profile=profile.name)


def profile_named(name: str) -> PlatformProfile:
    return _BY_NAME.get(name, generic.PROFILE)

