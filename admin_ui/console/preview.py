"""The exact registration request each platform profile would send for a tool configuration, built by the
same pure functions as a real registration, over a stored sample of each LMS's configuration document.

Samples (admin_ui/samples/): Moodle, Canvas, Blackboard and Sakai are real platform documents; Brightspace's
and Schoology's are assumed (neither publishes one), shaped as docs/platforms.md describes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from broker.registration import errors
from broker.registration.preparation import prepare_registration
from broker.registration.profiles.selection import profile_named, read_platform_configuration
from broker.registration.service import tool_endpoints
from broker.settings import Settings
from tenants.hosts import site_of
from tenants.keys import platform_key_set
from tenants.models import Tenant
from tenants.tool_configuration import ToolConfiguration

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
# Each sample with the URL it is served from (the issuer-host rule and profile choice read it).
SAMPLE_URLS = {
    "Moodle": ("moodle.json", "https://moodle.example.edu/mod/lti/openid-configuration.php"),
    "Canvas": ("canvas.json", "https://canvas.example.edu/api/lti/security/openid-configuration"),
    "Blackboard Learn": ("blackboard.json", "https://developer.blackboard.com/api/v1/gateway/openid-configuration"),
    "Brightspace": ("brightspace.json", "https://brightspace.example.edu/d2l/.well-known/openid-configuration"),
    "Sakai": ("sakai.json", "https://sakai.example.edu/imsblis/lti13/well_known"),
    "Schoology": ("schoology.json", "https://schoology.schoology.com/.well-known/openid-configuration"),
}


@dataclass(frozen=True)
class Preview:
    lms: str
    profile: str
    request: str | None  # the request as JSON, indented; None when the platform would refuse it
    notes: tuple[str, ...]
    refusal: str | None


@cache
def _sample(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return document


def previews(settings: Settings, tenant: Tenant, client_name: str, tool: ToolConfiguration) -> list[Preview]:
    site = site_of(settings, tenant)
    shown = []
    for lms, (name, url) in SAMPLE_URLS.items():
        platform = read_platform_configuration(_sample(name), configuration_url=url, allow_insecure=False)
        key_set = platform_key_set(settings.secret_key, tenant.id, platform.issuer)
        endpoints = tool_endpoints(site, key_set)
        try:
            prepared = prepare_registration(
                platform=platform, tool=tool, client_name=client_name, endpoints=endpoints,
                has_registration_token=True, allow_insecure=settings.allow_insecure_platforms,
            )  # fmt: skip
        except errors.RegistrationError as error:
            shown.append(Preview(lms, profile_named(platform.profile).title, None, (), error.detail))
            continue
        request = json.dumps(prepared.request, indent=2, sort_keys=True)
        shown.append(Preview(lms, prepared.profile.title, request, prepared.notes, None))
    return shown
