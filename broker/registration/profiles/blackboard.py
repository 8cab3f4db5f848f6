"""Blackboard Learn, through the Anthology Developer Portal: the one documented issuer exception.

Facts (docs/platforms.md, Blackboard; Anthology KB 000090618 and developer docs):
- Dynamic Registration exists only in the Developer Portal, which serves everything from
  `developer.blackboard.com`, while launches carry the issuer `https://blackboard.com`. The portal's
  document says `https://blackboard.com` (or, per the KB's defect list, `https://developer.blackboard.com`);
  either way the issuer-host rule cannot hold and the stored issuer must be `https://blackboard.com`;
- the registration token is a UUID in the registration endpoint's query (`registrationToken`); no
  `registration_token` parameter comes with the initiation, and the token does not expire;
- the KB prints the platform object and the scopes with `URL/` where `https://purl.imsglobal.org/` belongs.

Who may claim the exception: only a document fetched from `developer.blackboard.com` itself (Anthology's
host, so no one else can serve it), or, in insecure (development) mode, a document whose product is
`BlackboardLearn` (the test emulator on loopback). Anywhere else the general issuer-host rule applies, so an
attacker's document cannot claim Blackboard's issuer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from broker.lti import PLATFORM_CONFIGURATION_KEY
from broker.registration.platform_configuration import (
    IssuerException,
    PlatformConfiguration,
    url_host,
    validate_platform_configuration,
)
from broker.registration.profiles import generic
from broker.registration.profiles.profile import ConfigurationSource, Problem, RequestContext

PORTAL_HOST = "developer.blackboard.com"
LAUNCH_ISSUER = "https://blackboard.com"
PRODUCT_FAMILY_CODE = "BlackboardLearn"
KB_PREFIX = "URL/"
KB_PLATFORM_KEY = KB_PREFIX + "spec/lti-platform-configuration"
PURL = "https://purl.imsglobal.org/"
TOKEN_PARAMETER = "registrationToken"  # noqa: S105 - a query parameter name, not a secret


def issuer_exception(document: Mapping[str, Any], source: ConfigurationSource) -> IssuerException | None:
    host = url_host(source.configuration_url).lower()
    if host == PORTAL_HOST:
        return IssuerException(LAUNCH_ISSUER, f"the Blackboard Developer Portal ({PORTAL_HOST}) launches with it")
    if source.allow_insecure and product_family_code(document) == PRODUCT_FAMILY_CODE:
        return IssuerException(LAUNCH_ISSUER, "a Blackboard Learn document, accepted from this host in insecure mode")
    return None


def product_family_code(document: Mapping[str, Any]) -> str | None:
    platform = document.get(PLATFORM_CONFIGURATION_KEY)
    code = platform.get("product_family_code") if isinstance(platform, Mapping) else None
    return code if isinstance(code, str) else None


def expand_kb_prefix(value: Any) -> Any:
    """`URL/spec/...` keys and strings as `https://purl.imsglobal.org/spec/...`."""
    if isinstance(value, Mapping):
        return {expand_kb_prefix(key): expand_kb_prefix(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_kb_prefix(item) for item in value]
    if isinstance(value, str) and value.startswith(KB_PREFIX + "spec/"):
        return PURL + value[len(KB_PREFIX) :]
    return value


def read_configuration(document: Mapping[str, Any], source: ConfigurationSource) -> PlatformConfiguration:
    document = expand_kb_prefix(document)
    return validate_platform_configuration(
        document,
        configuration_url=source.configuration_url,
        allow_insecure=source.allow_insecure,
        issuer_exception=issuer_exception(document, source),
    )


def check_request(request: Mapping[str, Any], context: RequestContext) -> tuple[Problem, ...]:
    problems = list(generic.spec_problems(request, context))
    query = dict(parse_qsl(urlsplit(context.platform.registration_endpoint).query))
    if not query.get(TOKEN_PARAMETER):
        problems.append(
            Problem(
                "registration_endpoint",
                f"the Developer Portal authorizes a registration by the {TOKEN_PARAMETER} in this URL, "
                "and this one has none",
            )
        )
    return tuple(problems)


def explain_refusal(status_code: int, text: str) -> str | None:
    if status_code in (401, 403):
        return "Start again from the Developer Portal's LTI Dynamic Registration button; each start makes a new link."
    return None


PROFILE = replace(
    generic.PROFILE,
    name="blackboard",
    title="Blackboard Learn (Anthology Developer Portal)",
    product_family_codes=frozenset({PRODUCT_FAMILY_CODE.lower()}),
    configuration_hosts=frozenset({PORTAL_HOST}),
    read_configuration=read_configuration,
    check_request=check_request,
    explain_refusal=explain_refusal,
)
