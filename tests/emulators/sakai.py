"""Sakai (``LTI13Servlet``) emulator.

Facts and their sources (docs/platforms.md, "Sakai"; from ``lti/lti-blis/.../lti13/LTI13Servlet.java``
``handleWellKnown()`` and ``handleRegistrationEndpointPost()``; fixture ``sakai-openid-configuration.json``):

* each initiation stands for one tool row created by the admin ("LTI Advantage Auto Provision"): a key
  (a number), a client id (a UUID), a one-time token and the site-wide deployment id ``"1"``;
* configuration: ``GET /imsblis/lti13/well_known?key=&clientId=&issuerURL=&deploymentId=``; the four
  parameters are checked in the servlet's order (``clientId``, ``key``, ``issuerURL``, ``deploymentId``),
  a missing one gives ``400`` plain text ``Missing <name>``; the document's ``issuer`` is ``issuerURL``,
  ``token_endpoint`` and ``registration_endpoint`` end with the key; ``scopes_supported`` is ``["openid"]``;
* registration ``POST /imsblis/lti13/registration_endpoint/<key>``: a non-numeric key gives ``400 Bad
  value for tool_key``; an ``Authorization`` header that does not start with ``Bearer`` or does not split
  on whitespace into exactly two parts gives ``400 invalid_authorization``; a body over 300 000 characters
  or not a JSON object gives ``400``; ``initiate_login_uri``, ``jwks_uri`` and an array ``redirect_uris``
  are required (``400 Missing initiate_login_uri, jwks_uri, redirect_uris``); an unknown key gives ``400
  Missing tool``; a token that differs from the row's (also after it became ``Used``) or is older than
  1 h (judged by the timestamp the token starts with) gives ``403`` with an empty body; nothing else is
  checked;
* answer ``200`` JSON: the request echoed back plus ``client_id`` and, when the tool configuration is an
  object, its ``deployment_id``; the row's token becomes ``Used``.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from tests.emulators.fixtures import load_fixture, rewrite_urls
from tests.emulators.platform import (
    PlatformEmulator,
    RegistrationToken,
    empty_answer,
    json_answer,
    text_answer,
)
from tests.emulators.rules import TOOL_CONFIG_KEY, echo_registration

FIXTURE_ORIGIN = "https://sakai.example.edu"
LTI13_PATH = "/imsblis/lti13/"
CONFIGURATION_PARAMS = ("clientId", "key", "issuerURL", "deploymentId")
MAX_BODY_CHARS = 300_000
SITE_DEPLOYMENT_ID = "1"
DEFAULT_KEY = 7
_TIMESTAMP = re.compile(r"^(\d+):")


class SakaiEmulator(PlatformEmulator):
    """Sakai 23 "LTI Advantage Auto Configuration" (see the module docstring for each rule's source).

    ``tools`` maps each tool-row key to the token issued for it (its claims hold ``key``,
    ``client_id`` and ``deployment_id``)."""

    name = "sakai"
    product_family_code = "sakailms.org"
    configuration_path = LTI13_PATH + "well_known"
    registration_path = LTI13_PATH + "registration_endpoint/{key}"

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.next_key = 7
        self.tools: dict[int, RegistrationToken] = {}

    # ----------------------------------------------------------------- tool rows and tokens
    def token_claims(self) -> dict[str, Any]:
        key = self.next_key
        self.next_key += 1
        return {"key": key, "client_id": str(uuid.uuid4()), "deployment_id": SITE_DEPLOYMENT_ID}

    def new_token_value(self, claims: dict[str, Any], issued_at: float) -> str:
        return f"{int(issued_at)}:{secrets.token_hex(16)}"

    def issue_token(self, claims: dict[str, Any] | None = None) -> RegistrationToken:
        token = super().issue_token(claims)
        self.tools[token.claims["key"]] = token
        return token

    def configuration_url(self, token: RegistrationToken | None = None) -> str:
        url = self.base_url + self.configuration_path
        if token is None:
            return url
        claims = token.claims
        query = {
            "key": claims["key"],
            "clientId": claims["client_id"],
            "issuerURL": self.issuer,
            "deploymentId": claims["deployment_id"],
        }
        return f"{url}?{urlencode(query)}"

    def registration_endpoint(self, token: RegistrationToken | None = None) -> str:
        key = token.claims["key"] if token is not None else DEFAULT_KEY
        return f"{self.base_url}{LTI13_PATH}registration_endpoint/{key}"

    # ----------------------------------------------------------------- configuration GET
    def check_configuration_request(self, request: Request) -> RegistrationToken | Response | None:
        for name in CONFIGURATION_PARAMS:
            if name not in request.query_params:
                return text_answer(400, f"Missing {name}")
        return None  # Sakai serves the document for any key: the parameters alone shape it

    def base_configuration(self, token: RegistrationToken | None, request: Request | None) -> dict[str, Any]:
        """The fixture on this host; ``issuer`` and the key in two URLs come from the query when there
        is one (Sakai echoes ``issuerURL`` and ``key`` unchecked), else from ``token``."""
        document: dict[str, Any] = rewrite_urls(
            load_fixture("sakai-openid-configuration"), {FIXTURE_ORIGIN: self.base_url}
        )
        key = str(token.claims["key"]) if token is not None else str(DEFAULT_KEY)
        if request is not None:
            key = request.query_params["key"]
            document["issuer"] = request.query_params["issuerURL"]
        document["token_endpoint"] = f"{self.base_url}{LTI13_PATH}token/{key}"
        document["registration_endpoint"] = f"{self.base_url}{LTI13_PATH}registration_endpoint/{key}"
        return document

    # ----------------------------------------------------------------- registration POST, Sakai's order
    async def handle_registration(self, request: Request) -> Response:
        presented = _presented_token(request)
        if isinstance(presented, Response):
            return presented
        key, token_value = presented
        payload = _parse(await request.body())
        if isinstance(payload, Response):
            return payload
        if not _has_required(payload):
            return text_answer(400, "Missing initiate_login_uri, jwks_uri, redirect_uris")
        tool = self.tools.get(key)
        if tool is None:
            return text_answer(400, "Missing tool")
        if tool.used or token_value != tool.value or not self._fresh(token_value):
            return empty_answer(403)
        stored = self.accept_registration(payload, tool)
        self.consume_token(tool)  # the row's token becomes "Used"
        self.registrations.append(stored)
        return json_answer(200, stored)

    def _fresh(self, token_value: str) -> bool:
        match = _TIMESTAMP.match(token_value)
        if match is None:
            return False
        return self.token_ttl is None or self.now() - int(match.group(1)) < self.token_ttl

    def accept_registration(self, payload: dict[str, Any], token: RegistrationToken | None) -> dict[str, Any]:
        claims = token.claims if token is not None else {}
        deployment_id = (
            claims.get("deployment_id") if isinstance(payload.get(TOOL_CONFIG_KEY), dict) else None
        )
        return echo_registration(payload, claims.get("client_id", ""), deployment_id)


def _presented_token(request: Request) -> tuple[int, str] | Response:
    raw_key = request.path_params["key"]
    if not raw_key.lstrip("-").isdigit():
        return text_answer(400, f"Bad value for tool_key {raw_key}")
    authorization = request.headers.get("authorization")
    if authorization is None or not authorization.startswith("Bearer"):
        return text_answer(400, "invalid_authorization")
    parts = authorization.split()
    if len(parts) != 2:
        return text_answer(400, "invalid_authorization")
    return int(raw_key), parts[1]


def _parse(body: bytes) -> dict[str, Any] | Response:
    text = body.decode("utf-8", errors="replace")
    if len(text) > MAX_BODY_CHARS:
        return text_answer(400, "JSON too long ( > 300K")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return text_answer(400, "Badly formatted JSON")
    return payload


def _has_required(payload: dict[str, Any]) -> bool:
    """``initiate_login_uri`` and ``jwks_uri`` present and not empty, ``redirect_uris`` an array."""
    present = all(payload.get(k) not in (None, "") for k in ("initiate_login_uri", "jwks_uri"))
    return present and isinstance(payload.get("redirect_uris"), list)
