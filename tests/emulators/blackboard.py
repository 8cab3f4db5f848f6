"""Blackboard Learn (Anthology Developer Portal) emulator.

Documented facts (docs/platforms.md, "Blackboard Learn"; from Anthology KB 000090618 and the developer docs; fixture
``blackboard-openid-configuration.json``):

* LTI-DR exists only in the Developer Portal (one client id per tool registration; deployment ids come
  later, per Learn site, with launches);
* the document's ``issuer`` is the literal ``https://blackboard.com`` while every endpoint is on
  ``developer.blackboard.com`` (here: ``base_url``), so the issuer host never equals the configuration
  host. The literal is kept on purpose: it is the case the broker special-cases (keyed on
  ``product_family_code`` ``BlackboardLearn`` when the host is not ``developer.blackboard.com``);
* ``product_family_code`` ``BlackboardLearn``, **no** ``version``; ``RS512`` next to ``RS256``;
* **no** ``registration_token`` initiation parameter: the token is a UUID in the registration endpoint's
  query, ``/api/v1/gateway/registerLti?registrationToken=<uuid>``, and it **does not expire** (a defect
  Anthology lists);
* an application is identified by its domains and two applications cannot share one (docs.anthology.com
  "Registering a new LTI application"): a second registration with a ``domain`` an earlier one holds is
  refused (``400``; the wording is **inferred**);
* the KB prints the platform key and the scopes with a ``URL/`` prefix, most likely its own redaction of
  ``https://purl.imsglobal.org/``: the emulator serves the expanded form by default and the KB text
  verbatim with the knob ``kb_literal_keys=True``.

**Inferred** (no source says): the configuration URL (``/api/v1/gateway/openid-configuration/<session>``,
one session per initiation, ``404`` JSON for an unknown one); single use of the token; every error status
and body (Learn REST style ``{"status": ..., "message": ...}``: ``401`` for a missing, unknown or used
token or a stray ``Authorization`` header, ``400`` for a request that breaks the spec's rules, which are
assumed to be enforced); the answer (**unverified** shape: ``200``, the request echoed with a UUID
``client_id`` and **no** ``deployment_id``).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tests.emulators.fixtures import load_fixture, rewrite_urls
from tests.emulators.platform import PlatformEmulator, RegistrationToken, json_answer
from tests.emulators.rules import (
    PLATFORM_CONFIG_KEY,
    TOOL_CONFIG_KEY,
    echo_registration,
    message_types_of,
    spec_violations,
)

FIXTURE_ORIGIN = "https://developer.blackboard.com"
BLACKBOARD_ISSUER = "https://blackboard.com"
KB_PREFIX = "URL/"
PURL_PREFIX = "https://purl.imsglobal.org/"
GATEWAY = "/api/v1/gateway"


def _learn_error(status: int, message: str) -> Response:
    return json_answer(status, {"status": status, "message": message})


def expand_kb_prefix(value: Any) -> Any:
    """Replace the KB's ``URL/`` prefix by ``https://purl.imsglobal.org/`` in keys and strings."""
    if isinstance(value, dict):
        return {expand_kb_prefix(k): expand_kb_prefix(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_kb_prefix(item) for item in value]
    if isinstance(value, str) and value.startswith(KB_PREFIX):
        return PURL_PREFIX + value[len(KB_PREFIX) :]
    return value


class BlackboardEmulator(PlatformEmulator):
    """Developer Portal DR (see the module docstring for what is documented and what is inferred).

    Knob beyond the base ones: ``kb_literal_keys`` (serve the KB's ``URL/`` keys verbatim)."""

    name = "blackboard"
    product_family_code = "BlackboardLearn"
    configuration_path = GATEWAY + "/openid-configuration/{session}"
    registration_path = GATEWAY + "/registerLti"
    sends_registration_token = False

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.token_ttl = None
        self.kb_literal_keys = False
        self.sessions: dict[str, RegistrationToken] = {}

    @property
    def issuer(self) -> str:
        return BLACKBOARD_ISSUER

    @property
    def platform_config_key(self) -> str:  # type: ignore[override]
        return KB_PREFIX + "spec/lti-platform-configuration" if self.kb_literal_keys else PLATFORM_CONFIG_KEY

    def new_token_value(self, claims: dict[str, Any], issued_at: float) -> str:
        return str(uuid.uuid4())

    def issue_token(self, claims: dict[str, Any] | None = None) -> RegistrationToken:
        token = super().issue_token({"session": uuid.uuid4().hex, **(claims or {})})
        self.sessions[token.claims["session"]] = token
        return token

    def configuration_url(self, token: RegistrationToken | None = None) -> str:
        session = token.claims["session"] if token is not None else "unknown"
        return f"{self.base_url}{GATEWAY}/openid-configuration/{session}"

    def registration_endpoint(self, token: RegistrationToken | None = None) -> str:
        value = token.value if token is not None else "00000000-0000-0000-0000-000000000000"
        return f"{self.base_url}{self.registration_path}?registrationToken={value}"

    def base_configuration(self, token: RegistrationToken | None, request: Request | None) -> dict[str, Any]:
        document: dict[str, Any] = rewrite_urls(
            load_fixture("blackboard-openid-configuration"), {FIXTURE_ORIGIN: self.base_url}
        )
        document["registration_endpoint"] = self.registration_endpoint(token)
        return document if self.kb_literal_keys else expand_kb_prefix(document)

    def check_configuration_request(self, request: Request) -> RegistrationToken | Response | None:
        token = self.sessions.get(request.path_params["session"])
        return token if token is not None else _learn_error(404, "Not Found")

    def check_registration_request(self, request: Request) -> RegistrationToken | Response | None:
        if "authorization" in request.headers:
            return _learn_error(401, "Unexpected Authorization header")
        token = self.find_token(request.query_params.get("registrationToken"))
        if token is None or self.token_state(token) != "valid":
            return _learn_error(401, "Invalid registration token")
        return token

    def parse_registration(self, request: Request, body: bytes) -> dict[str, Any] | Response:
        payload = super().parse_registration(request, body)
        return _learn_error(400, "Invalid JSON") if isinstance(payload, Response) else payload

    async def validate_registration(
        self, payload: dict[str, Any], token: RegistrationToken | None
    ) -> Response | None:
        platform_config = expand_kb_prefix(self.openid_configuration(token)).get(PLATFORM_CONFIG_KEY, {})
        violations = spec_violations(payload, message_types_of(platform_config))
        if violations:
            return _learn_error(400, violations[0].description)
        domain = payload[TOOL_CONFIG_KEY]["domain"]
        if any(held[TOOL_CONFIG_KEY].get("domain") == domain for held in self.registrations):
            return _learn_error(400, f"Another application already uses the domain {domain}")
        return None

    def accept_registration(self, payload: dict[str, Any], token: RegistrationToken | None) -> dict[str, Any]:
        return echo_registration(payload, str(uuid.uuid4()), None)
