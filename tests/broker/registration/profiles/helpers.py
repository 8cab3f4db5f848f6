"""Building blocks for the profile tests: real platform documents, the broker's endpoints, a request."""

from __future__ import annotations

import copy
from typing import Any

from broker.registration.platform_configuration import PlatformConfiguration
from broker.registration.preparation import PreparedRegistration, prepare_registration
from broker.registration.profiles.profile import RequestContext
from broker.registration.profiles.selection import read_platform_configuration
from broker.registration.request import ToolEndpoints
from tenants.tool_configuration import ToolConfiguration
from tests.emulators.fixtures import load_fixture

ENDPOINTS = ToolEndpoints(
    initiate_login_uri="https://lti.example.com/t/acme/lti/login",
    redirect_uri="https://lti.example.com/t/acme/lti/launch",
    jwks_uri="https://lti.example.com/t/acme/.well-known/jwks.json",
    target_link_uri="https://lti.example.com/t/acme/lti/launch",
    domain="lti.example.com",
)
CONFIGURATION_URLS = {
    "moodle": "https://moodle.example.edu/mod/lti/openid-configuration.php",
    "canvas": "https://canvas.example.edu/api/lti/security/openid-configuration?registration_token=x",
    "sakai": "https://sakai.example.edu/imsblis/lti13/well_known?key=7",
    "blackboard": "https://developer.blackboard.com/api/v1/gateway/openid-configuration/abc",
}


def fixture(name: str) -> dict[str, Any]:
    return load_fixture(f"{name}-openid-configuration")


def read(document: dict[str, Any], configuration_url: str, *, allow_insecure: bool = False) -> PlatformConfiguration:
    return read_platform_configuration(
        copy.deepcopy(document), configuration_url=configuration_url, allow_insecure=allow_insecure
    )


def platform_of(name: str) -> PlatformConfiguration:
    return read(fixture(name), CONFIGURATION_URLS[name])


def prepare(
    platform: PlatformConfiguration,
    tool: ToolConfiguration | None = None,
    *,
    token: bool = True,
    allow_insecure: bool = False,
    included: frozenset[str] | None = None,
    endpoints: ToolEndpoints = ENDPOINTS,
) -> PreparedRegistration:
    return prepare_registration(
        platform=platform,
        tool=tool or ToolConfiguration(),
        client_name="Acme Quiz",
        endpoints=endpoints,
        has_registration_token=token,
        allow_insecure=allow_insecure,
        included=included,
    )


def context(platform: PlatformConfiguration, *, token: bool = True, allow_insecure: bool = False) -> RequestContext:
    return RequestContext(platform, ToolConfiguration(), token, allow_insecure)
