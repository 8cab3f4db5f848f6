"""D2L Brightspace emulator.

Documented facts (docs/platforms.md, "D2L Brightspace"; D2L "Dynamic Registration" page, webwork2 PR #2993, the Sakai
Plus README for the launch layout):

* **no** ``registration_token`` initiation parameter; a one-time token (one use or 1 h, whichever comes
  first) travels inside the ``openid_configuration`` URL; the tool must GET it and POST to
  ``registration_endpoint`` exactly as given;
* a tool that sends an ``Authorization`` header anyway fails (webwork2 #2993): refused here with ``401``;
* D2L's rules: URLs must be https (relaxed here to allow ``http`` on loopback hosts, for tests);
  ``client_name`` unique in the org; a ``domain`` can be held by only one *enabled* registration; the
  tool's keyset URL must be reachable at registration time (the emulator GETs the request's ``jwks_uri``
  with httpx, loopback hosts only, 5 s timeout, and wants a 2xx JSON object with a ``keys`` array);
* new registrations are **disabled** until an admin enables them (``enable(client_id)`` here);
* issuer = site base URL without trailing slash; auth ``/d2l/lti/authenticate``; JWKS
  ``/d2l/.well-known/jwks``; token ``https://auth.brightspace.com/core/connect/token`` with audience
  ``https://api.brightspace.com/auth/token`` (both on the other loopback name here); deployment ids are GUIDs.

**Unverified / inferred** (D2L is closed source and no sample was found): the configuration and
registration paths and the token's query parameter name (``?token=``); the document's exact keys
(built like the spec's, with ``authorization_server`` set to the token audience);
``product_family_code`` ``desire2learn`` (the LTI 1.1 value); the answer shape (the request echoed +
``client_id`` + tool-configuration ``deployment_id``, status 200); every error status and body (RFC 7591
JSON ``400`` for rule violations, ``401`` ``invalid_token`` JSON for token problems); whether the
spec's other request rules (LTI-DR §3.5.2) are enforced (they are, here).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response

from tests.emulators.generic import AGS_SCOPES, NRPS_SCOPE, invalid_token
from tests.emulators.platform import PlatformEmulator, RegistrationToken, json_answer
from tests.emulators.rules import (
    PLATFORM_CONFIG_KEY,
    TOOL_CONFIG_KEY,
    Violation,
    echo_registration,
    granted_scope,
    is_https_or_loopback_url,
    is_loopback_host,
    message_types_of,
    spec_violations,
)

DR_PATH = "/d2l/api/lti/dynamic-registration"
KEYSET_TIMEOUT_S = 5.0


class BrightspaceEmulator(PlatformEmulator):
    """Brightspace org at ``base_url`` (see the module docstring for what is documented and what is not).

    Knobs beyond the base ones: ``create_deployment`` (the optional "also create the deployment";
    default True). ``enabled`` holds the client ids of enabled registrations."""

    name = "brightspace"
    product_family_code = "desire2learn"
    configuration_path = DR_PATH + "/openid-configuration"
    registration_path = DR_PATH + "/register"
    sends_registration_token = False

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.create_deployment = True
        self.enabled: set[str] = set()

    def enable(self, client_id: str) -> None:
        """What the admin does after reviewing a new (disabled) registration."""
        self.enabled.add(client_id)

    def configuration_url(self, token: RegistrationToken | None = None) -> str:
        return _with_token(self.base_url + self.configuration_path, token)

    def registration_endpoint(self, token: RegistrationToken | None = None) -> str:
        return _with_token(self.base_url + self.registration_path, token)

    def base_configuration(self, token: RegistrationToken | None, request: Request | None) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.base_url + "/d2l/lti/authenticate",
            "registration_endpoint": self.registration_endpoint(token),
            "jwks_uri": self.base_url + "/d2l/.well-known/jwks",
            "token_endpoint": self.alt_base_url + "/core/connect/token",
            "authorization_server": self.alt_base_url + "/auth/token",
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", *AGS_SCOPES, NRPS_SCOPE],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email", "picture"],
            PLATFORM_CONFIG_KEY: {
                "product_family_code": self.product_family_code,
                "version": "20.25.1",
                "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
                "variables": ["User.id", "Person.email.primary", "Context.id"],
            },
        }

    # ----------------------------------------------------------------- the one-time token in the URLs
    def _token_from_query(self, request: Request) -> RegistrationToken | Response:
        token = self.find_token(request.query_params.get("token"))
        state = self.token_state(token)
        if token is None or state != "valid":
            return invalid_token(f"registration token {state}")
        return token

    def check_configuration_request(self, request: Request) -> RegistrationToken | Response | None:
        return self._token_from_query(request)

    def check_registration_request(self, request: Request) -> RegistrationToken | Response | None:
        if "authorization" in request.headers:
            return invalid_token("unexpected Authorization header: no registration_token was issued")
        return self._token_from_query(request)

    # ----------------------------------------------------------------- D2L's rules
    async def validate_registration(
        self, payload: dict[str, Any], token: RegistrationToken | None
    ) -> Response | None:
        types = message_types_of(self.openid_configuration(token).get(PLATFORM_CONFIG_KEY, {}))
        violations = spec_violations(payload, types, url_ok=is_https_or_loopback_url)
        violation = violations[0] if violations else self.uniqueness_violation(payload)
        if violation is None:
            violation = await keyset_violation(payload["jwks_uri"])
        return None if violation is None else json_answer(400, violation.rfc7591())

    def uniqueness_violation(self, payload: dict[str, Any]) -> Violation | None:
        name = payload["client_name"]
        if any(r.get("client_name") == name for r in self.registrations):
            return Violation("client_name", f"a registration named {name!r} already exists in this org")
        domain = payload[TOOL_CONFIG_KEY]["domain"]
        for registration in self.registrations:
            held = registration[TOOL_CONFIG_KEY].get("domain") == domain
            if held and registration["client_id"] in self.enabled:
                return Violation("domain", f"the domain {domain!r} is used by an enabled registration")
        return None

    def accept_registration(self, payload: dict[str, Any], token: RegistrationToken | None) -> dict[str, Any]:
        supported = self.openid_configuration(token).get("scopes_supported", [])
        deployment_id = str(uuid.uuid4()) if self.create_deployment else None
        scope = granted_scope(payload.get("scope"), supported) if "scope" in payload else None
        return echo_registration(payload, str(uuid.uuid4()), deployment_id, scope)


def _with_token(url: str, token: RegistrationToken | None) -> str:
    return url if token is None else f"{url}?token={quote(token.value, safe='')}"


async def keyset_violation(jwks_uri: str) -> Violation | None:
    """D2L fetches the tool's keyset at registration time; only loopback hosts are contacted here."""
    if not is_loopback_host(urlsplit(jwks_uri).hostname):
        return Violation("jwks_uri", "the keyset URL is not reachable")
    try:
        async with httpx.AsyncClient(timeout=KEYSET_TIMEOUT_S, trust_env=False) as client:
            answer = await client.get(jwks_uri, headers={"Accept": "application/json"})
        keys = answer.json().get("keys") if answer.is_success else None
    except (httpx.HTTPError, ValueError, AttributeError):
        keys = None
    if not isinstance(keys, list):
        return Violation("jwks_uri", "the keyset URL is not reachable or does not return a key set")
    return None
