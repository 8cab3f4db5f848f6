"""A strict 1EdTech LTI-DR 1.0 platform: what a platform that follows the spec to the letter does.

Sources: LTI-DR §3.4 (the configuration document: every required field, ``messages_supported`` as
objects, ``openid`` in ``scopes_supported``), §3.5.2 (request rules, checked by ``rules.spec_violations``),
§3.6 (answer = the request as stored + ``client_id`` + tool-configuration ``deployment_id``; OIDC-Reg/RFC
7591 status ``201``; errors ``400 {"error", "error_description"}``).
The registration token is optional in the spec (§3.3): when one is issued it is a one-time Bearer token
(RFC 6750: ``401`` with ``WWW-Authenticate: Bearer error="invalid_token"``), and when the knob
``sends_registration_token`` is False none is issued and any ``Authorization`` header is refused the same
way (no header without a token). The request must be declared ``application/json`` (RFC 7591 §3.1).

Knobs beyond the base ones: ``registration_status`` (201, or 200 as real platforms answer),
``create_deployment`` (put a ``deployment_id`` in the answer), ``sends_registration_token``.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.emulators.platform import PlatformEmulator, RegistrationToken, bearer_token, json_answer
from tests.emulators.rules import (
    PLATFORM_CONFIG_KEY,
    echo_registration,
    granted_scope,
    message_types_of,
    spec_violations,
)

AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


def invalid_token(description: str) -> Response:
    """RFC 6750 refusal of a missing or bad Bearer token."""
    return JSONResponse(
        {"error": "invalid_token", "error_description": description},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class GenericEmulator(PlatformEmulator):
    """Strict spec platform; configuration at ``/.well-known/openid-configuration``."""

    name = "generic"
    product_family_code = "generic"
    configuration_path = "/.well-known/openid-configuration"
    registration_path = "/lti/registrations"
    registration_status = 201

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.create_deployment = True
        self.sends_registration_token = True

    @property
    def service_base_url(self) -> str:
        """Where the launch and service endpoints live (the issuer's host here)."""
        return self.base_url

    def service_paths(self) -> dict[str, str]:
        return {
            "authorization_endpoint": "/lti/authorize",
            "token_endpoint": "/lti/token",
            "jwks_uri": "/lti/jwks",
        }

    def registration_endpoint(self, token: RegistrationToken | None = None) -> str:
        return self.service_base_url + self.registration_path

    def base_configuration(self, token: RegistrationToken | None, request: Request | None) -> dict[str, Any]:
        endpoints = {key: self.service_base_url + path for key, path in self.service_paths().items()}
        return {
            "issuer": self.issuer,
            **endpoints,
            "registration_endpoint": self.registration_endpoint(token),
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", *AGS_SCOPES, NRPS_SCOPE],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            PLATFORM_CONFIG_KEY: self.platform_configuration(),
        }

    def platform_configuration(self) -> dict[str, Any]:
        return {
            "product_family_code": self.product_family_code,
            "version": "1.0",
            "messages_supported": [
                {"type": "LtiResourceLinkRequest", "placements": ["ContentArea"]},
                {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea", "RichTextEditor"]},
            ],
            "variables": ["Context.id", "ResourceLink.id", "User.id", "Person.email.primary"],
        }

    # ----------------------------------------------------------------- token: optional, one-time Bearer
    def check_registration_request(self, request: Request) -> RegistrationToken | Response | None:
        header = request.headers.get("authorization")
        if not self.sends_registration_token:
            return None if header is None else invalid_token("no registration token was issued")
        value = bearer_token(request)
        if value is None:
            return invalid_token("a Bearer registration token is required")
        token = self.find_token(value)
        state = self.token_state(token)
        return token if state == "valid" else invalid_token(f"registration token {state}")

    # ----------------------------------------------------------------- body
    def parse_registration(self, request: Request, body: bytes) -> dict[str, Any] | Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return json_answer(400, _metadata_error("the request must be application/json"))
        return super().parse_registration(request, body)

    async def validate_registration(
        self, payload: dict[str, Any], token: RegistrationToken | None
    ) -> Response | None:
        document = self.openid_configuration(token)
        types = message_types_of(document.get(PLATFORM_CONFIG_KEY, {}))
        violations = spec_violations(payload, types)
        return json_answer(400, violations[0].rfc7591()) if violations else None

    def accept_registration(self, payload: dict[str, Any], token: RegistrationToken | None) -> dict[str, Any]:
        supported = self.openid_configuration(token).get("scopes_supported", [])
        deployment_id = str(uuid.uuid4()) if self.create_deployment else None
        scope = granted_scope(payload.get("scope"), supported) if "scope" in payload else None
        return echo_registration(payload, str(uuid.uuid4()), deployment_id, scope)


def _metadata_error(description: str) -> dict[str, str]:
    return {"error": "invalid_client_metadata", "error_description": description}
