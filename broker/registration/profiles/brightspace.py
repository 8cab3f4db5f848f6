"""D2L Brightspace: no registration_token parameter, https everywhere, one enabled registration per domain.

Facts (docs/platforms.md, Brightspace; D2L "Dynamic Registration" and "Register an external learning tool"
pages, webwork2 PR #2993, the Sakai Plus README):
- the one-time token rides in the `openid_configuration` URL (one use or an hour); no `registration_token`
  parameter comes, so the POST carries no Authorization header (D2L fails when one is sent);
- every URL must be https; `client_name` and `domain` must be unique in the org, and a domain can be held by
  one enabled registration only; the tool's keyset must answer at registration time;
- a new registration is disabled until an admin enables it;
- service tokens are asked for with the audience `https://api.brightspace.com/auth/token`, which is not the
  token endpoint's URL; the platform publishes it as `authorization_server`.
Unverified (closed source): the document's `product_family_code` (`desire2learn` was the LTI 1.1 value) and
the answer's shape.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from broker.lti import TOOL_CONFIGURATION_KEY
from broker.registration.platform_configuration import PlatformConfiguration
from broker.registration.profiles import generic
from broker.registration.profiles.profile import Adapted, Problem, RequestContext

# The audience D2L expects in client assertions when it does not publish one.
D2L_API_AUDIENCE = "https://api.brightspace.com/auth/token"


def adapt_request(request: dict[str, Any], platform: PlatformConfiguration) -> Adapted:
    domain = request[TOOL_CONFIGURATION_KEY]["domain"]
    notes = (
        "Brightspace creates the registration disabled: enable it under Manage Extensibility → LTI Advantage",
        f"Brightspace allows one enabled registration per domain in an org; this tool's domain is {domain}",
    )
    return Adapted(request, notes)


def check_request(request: Mapping[str, Any], context: RequestContext) -> tuple[Problem, ...]:
    problems = list(generic.spec_problems(request, context))
    problems += [
        Problem(field, f"Brightspace accepts https URLs only, not {url}")
        for field, url in _urls(request)
        if not _https_or_local(url, context.allow_insecure)
    ]
    return tuple(problems)


def _urls(request: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key in ("initiate_login_uri", "jwks_uri", *generic.OPTIONAL_URLS):
        if isinstance(request.get(key), str):
            yield key, request[key]
    for index, uri in enumerate(request.get("redirect_uris") or []):
        yield f"redirect_uris[{index}]", uri
    configuration = request.get(TOOL_CONFIGURATION_KEY) or {}
    if isinstance(configuration.get("target_link_uri"), str):
        yield f"{TOOL_CONFIGURATION_KEY}.target_link_uri", configuration["target_link_uri"]
    for index, message in enumerate(configuration.get("messages") or []):
        for key in generic.MESSAGE_URLS:
            if isinstance(message.get(key), str):
                yield f"{TOOL_CONFIGURATION_KEY}.messages[{index}].{key}", message[key]


def _https_or_local(url: Any, allow_insecure: bool) -> bool:
    # Insecure (development) mode lets a local broker register with a local Brightspace over http.
    try:
        parts = urlsplit(str(url))
    except ValueError:  # unbalanced IPv6 brackets (https://[::1), a netloc that NFKC-normalizes to /?#@:
        return False
    return parts.scheme == "https" or (allow_insecure and parts.scheme == "http" and _is_local(parts.hostname))


def _is_local(host: str | None) -> bool:
    # Names under .localhost are loopback too (RFC 6761): a local broker's tenant hosts.
    if host == "localhost" or (host or "").endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def explain_refusal(status_code: int, text: str) -> str | None:
    if status_code == 400 and ("client_name" in text or "domain" in text):
        return (
            "Brightspace allows one registration per tool name, and one enabled registration per domain, in an "
            "org: disable or delete the earlier one under Manage Extensibility → LTI Advantage, then start again."
        )
    if status_code in (401, 403):
        return "Brightspace registration links work once, for an hour. Start again from Register Tool → Dynamic."
    return None


def client_assertion_audience(token_endpoint: str, authorization_server: str | None) -> str:
    if authorization_server and generic.is_http_url(authorization_server):
        return authorization_server
    return D2L_API_AUDIENCE if urlsplit(token_endpoint).hostname == "auth.brightspace.com" else token_endpoint


PROFILE = replace(
    generic.PROFILE,
    name="brightspace",
    title="D2L Brightspace",
    product_family_codes=frozenset({"desire2learn", "d2l", "brightspace"}),
    adapt_request=adapt_request,
    check_request=check_request,
    explain_refusal=explain_refusal,
    client_assertion_audience=client_assertion_audience,
)
