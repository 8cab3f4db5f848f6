"""Sakai (`LTI13Servlet`): a registration for a tool entry the admin created first, checked very little.

Facts (docs/platforms.md, Sakai; `lti/lti-blis/.../lti13/LTI13Servlet.java`):
- the POST needs `Authorization: Bearer <token>`, split on whitespace into exactly two parts (400
  `invalid_authorization` otherwise); the token works once, for an hour (403 with an empty body after);
- the body must be a JSON object of at most 300 000 characters with `initiate_login_uri`, `jwks_uri` and an
  array `redirect_uris`; nothing else is checked, and the answer echoes the request with `client_id` and the
  site-wide `deployment_id`;
- `scopes_supported` lists only `openid`, yet the token endpoint grants the AGS, NRPS and group scopes when
  the tool entry's settings allow them: those settings, not the registration, decide what is granted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from broker.lti import (
    AGS_LINEITEM,
    AGS_LINEITEM_READONLY,
    AGS_RESULT_READONLY,
    AGS_SCORE,
    GROUPS_READONLY,
    NRPS_MEMBERSHIPS,
)
from broker.registration.platform_configuration import PlatformConfiguration
from broker.registration.profiles import generic
from broker.registration.profiles.profile import Adapted, Problem, RequestContext
from broker.registration.request import PlatformOffer, documented_offer

MAX_BODY_CHARACTERS = 300_000
# The scopes LTI13Servlet's token endpoint grants (when the tool entry allows them).
SCOPES = (AGS_LINEITEM, AGS_LINEITEM_READONLY, AGS_RESULT_READONLY, AGS_SCORE, NRPS_MEMBERSHIPS, GROUPS_READONLY)


def offer(platform: PlatformConfiguration) -> PlatformOffer:
    documented = documented_offer(platform)
    listed = tuple(scope for scope in documented.scopes or () if scope != "openid" and scope not in SCOPES)
    return replace(documented, scopes=(*SCOPES, *listed))


def adapt_request(request: dict[str, Any], platform: PlatformConfiguration) -> Adapted:
    note = "Sakai grants services by the tool entry's settings in External Tools, whatever is asked here"
    return Adapted(request, (note,))


def check_request(request: Mapping[str, Any], context: RequestContext) -> tuple[Problem, ...]:
    problems = list(generic.spec_problems(request, context))
    size = len(json.dumps(request))
    if size > MAX_BODY_CHARACTERS:
        problems.append(Problem("(body)", f"Sakai accepts at most {MAX_BODY_CHARACTERS} characters; this is {size}"))
    return tuple(problems)


def explain_refusal(status_code: int, text: str) -> str | None:
    if status_code == 403 or "invalid_authorization" in text:
        return (
            "Sakai's registration token works once, for an hour. In Sakai's External Tools, open the tool's "
            "entry and start LTI Advantage Auto Configuration again."
        )
    return None


PROFILE = replace(
    generic.PROFILE,
    name="sakai",
    title="Sakai",
    product_family_codes=frozenset({"sakailms.org", "sakai"}),
    offer=offer,
    adapt_request=adapt_request,
    check_request=check_request,
    explain_refusal=explain_refusal,
    needs_registration_token=True,
)
