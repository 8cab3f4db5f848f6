"""Moodle (``mod/lti``) emulator.

Facts and their sources (docs/platforms.md, "Moodle"; ``mod/lti/openid-configuration.php`` @2d00328603b5,
``openid-registration.php`` @d54a89ad2e82 and ``classes/local/ltiopenid/registration_helper.php``
@bb20aefc8d07):

* issuer = ``$CFG->wwwroot``; here ``<base_url>/moodle`` so that an issuer *with a path* is exercised;
  configuration at ``/mod/lti/openid-configuration.php`` (public, no token), registration at
  ``/mod/lti/openid-registration.php``; document = fixture ``moodle-openid-configuration.json``
  (bare-string ``messages_supported``, platform-level ``placements``, no ``authorization_server``);
* registration token: a JWT with ``sub`` (the new 15-character client id), ``scope`` ``reg``, ``iat``,
  ``exp`` = ``iat`` + 1 h. Moodle signs it RS256 with the site key; the emulator signs HS256 with a
  random key and recognises its own tokens by lookup (only the shape matters to the tool);
* header: exactly ``Bearer `` + token, otherwise ``401 missing_registration_token``; a token whose client
  id is already registered: ``401 token_already_used``; an expired or foreign token makes Moodle's JWT
  library throw uncaught (status "probably 500", **unverified**): answered ``500`` plain text;
* body checks in Moodle's order, missing = absent or PHP-``empty()``: ``missing required attribute
  <name>`` for ``response_types``, ``initiate_login_uri``, ``redirect_uris``, ``client_name``,
  ``jwks_uri``, ``token_endpoint_auth_method``, then the tool configuration; ``missing_domain``;
  ``domain_targetlinkuri_mismatch`` (host of ``target_link_uri`` vs ``domain``, leading ``www.`` ignored,
  port kept; ``target_link_uri`` defaults to ``https://<domain>``); ``invalid_response_types``;
  ``invalid_redirect_uris``; ``invalid_token_endpoint_auth_method``; ``invalid_application_type``.
  All are ``400`` plain text. A string ``response_types`` makes ``in_array`` throw: ``500`` (unverified);
* answer ``200`` JSON (PHP ``json_encode``: slashes escaped), built like ``config_to_registration``:
  ``deployment_id`` (the tool type id) inside the tool configuration, ``version`` ``1.3.0``, the domain
  without ``www.``, only the deep-linking message kept, custom parameters round-tripped through
  ``key=value`` lines, scopes and claims re-derived from the settings they switched on. Two PHP
  precedence slips in that function are reproduced because they change the answer: any grade-sync
  scope also grants ``lineitem``, and the claims follow the name/e-mail settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import string
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tests.emulators.fixtures import load_fixture, rewrite_urls
from tests.emulators.platform import PlatformEmulator, RegistrationToken, text_answer
from tests.emulators.rules import TOOL_CONFIG_KEY, php_empty

SCOPE_NEW_REGISTRATION = "reg"
SCOPE_UPDATE_REGISTRATION = "reg-update"
WWWROOT_PATH = "/moodle"
FIXTURE_ORIGIN = "https://moodle.example.edu"
REQUIRED_ATTRIBUTES = (
    "response_types",
    "initiate_login_uri",
    "redirect_uris",
    "client_name",
    "jwks_uri",
    "token_endpoint_auth_method",
)

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPE_SCORE = AGS + "score"
SCOPE_RESULT = AGS + "result.readonly"
SCOPE_LINEITEM_RO = AGS + "lineitem.readonly"
SCOPE_LINEITEM = AGS + "lineitem"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCOPE_TOOL_SETTING = "https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting"

# Moodle's domain rule: optional http(s)://, optional www., then everything up to the first "/".
_DOMAIN = re.compile(r"(?:https?://)?(?:www\.)?([^/]+)(?:/|$)", re.IGNORECASE)
_CLIENT_ID_CHARS = string.ascii_letters + string.digits


def moodle_domain(url: str) -> str | None:
    """The host[:port] Moodle compares, ``www.`` and scheme removed (unanchored search, as in PHP)."""
    match = _DOMAIN.search(url)
    return match.group(1) if match else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def php_string(value: Any) -> str:
    """How PHP turns a decoded JSON value into a string for ``key=value`` lines."""
    if value is True:
        return "1"
    if value is None or value is False:
        return ""
    if isinstance(value, (list, dict)):
        return "Array"
    return str(value)


class MoodleEmulator(PlatformEmulator):
    """Moodle 4.x site at ``<base_url>/moodle`` (see the module docstring for each rule's source)."""

    name = "moodle"
    product_family_code = "moodle"
    configuration_path = WWWROOT_PATH + "/mod/lti/openid-configuration.php"
    registration_path = WWWROOT_PATH + "/mod/lti/openid-registration.php"

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.next_type_id = 119
        self._signing_key = secrets.token_bytes(32)
        # The admin's answer when Moodle offers to update a tool found by domain; False registers a new one.
        self.update_existing_tool = False
        # Tool types by id: {"clientid", "tooldomain"}, as ``lti_types`` keeps them.
        self.tool_types: dict[int, dict[str, str]] = {}

    def tools_by_domain(self, url: str) -> list[int]:
        """``lti_get_tools_by_url``: the type ids whose ``tooldomain`` is the domain of ``url``."""
        domain = moodle_domain(url)
        return [type_id for type_id, tool in self.tool_types.items() if tool["tooldomain"] == domain]

    def claims_for_tool_url(self, tool_registration_url: str) -> dict[str, Any]:
        found = self.tools_by_domain(tool_registration_url)
        if found and self.update_existing_tool:
            return {"sub": str(found[0]), "scope": SCOPE_UPDATE_REGISTRATION}
        return {}

    @property
    def issuer(self) -> str:
        return self.base_url + WWWROOT_PATH

    def base_configuration(self, token: RegistrationToken | None, request: Request | None) -> dict[str, Any]:
        document: dict[str, Any] = rewrite_urls(
            load_fixture("moodle-openid-configuration"), {FIXTURE_ORIGIN: self.issuer}
        )
        return document

    # ----------------------------------------------------------------- token: JWT with sub/scope/iat/exp
    def token_claims(self) -> dict[str, Any]:
        return {
            "sub": "".join(secrets.choice(_CLIENT_ID_CHARS) for _ in range(15)),
            "scope": SCOPE_NEW_REGISTRATION,
        }

    def new_token_value(self, claims: dict[str, Any], issued_at: float) -> str:
        body = {**claims, "iat": int(issued_at), "exp": int(issued_at + (self.token_ttl or 0))}
        signing_input = _b64(b'{"typ":"JWT","alg":"HS256"}') + "." + _b64(json.dumps(body).encode())
        signature = hmac.new(self._signing_key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64(signature)

    def check_registration_request(self, request: Request) -> RegistrationToken | Response:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return text_answer(401, "missing_registration_token")
        token = self.find_token(header[len("Bearer ") :].strip())
        state = self.token_state(token)
        if state == "used" and token is not None:
            if token.claims.get("scope") == SCOPE_NEW_REGISTRATION:
                return text_answer(401, "token_already_used")
            state = "valid"  # an update token names an existing type: Moodle does not check its use
        if token is not None and _updated_type(token) not in (None, *self.tool_types):
            return text_answer(400, "Unknown client")
        if token is None or state != "valid":
            return text_answer(500, f"registration token could not be decoded ({state})")
        return token

    # ----------------------------------------------------------------- body: registration_to_config
    def parse_registration(self, request: Request, body: bytes) -> dict[str, Any] | Response:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, list):  # a JSON array is still a PHP array: fields are just missing
            return {}
        if not isinstance(payload, dict):
            return text_answer(500, "registration payload is not an array")
        return payload

    async def validate_registration(
        self, payload: dict[str, Any], token: RegistrationToken | None
    ) -> Response | None:
        problem = _missing_attribute(payload) or _domain_problem(payload) or _value_problem(payload)
        if problem is None:
            return None
        status, message = problem
        return text_answer(status, message)

    def accept_registration(self, payload: dict[str, Any], token: RegistrationToken | None) -> dict[str, Any]:
        type_id = _updated_type(token) if token is not None else None
        if type_id is None:
            client_id = token.claims["sub"] if token is not None else ""
            type_id = self.next_type_id
            self.next_type_id += 1
        else:  # lti_update_type: the type keeps its id and client id, everything else is the new request's
            client_id = self.tool_types[type_id]["clientid"]
        answer = _config_to_registration(payload, client_id, type_id)
        domain = answer[TOOL_CONFIG_KEY]["domain"]
        self.tool_types[type_id] = {"clientid": client_id, "tooldomain": domain}
        return answer

    def registration_answer(self, stored: dict[str, Any]) -> Response:
        body = json.dumps(stored).replace("/", "\\/")  # PHP json_encode escapes slashes
        return Response(body, status_code=200, media_type="application/json; charset=utf-8")


Problem = tuple[int, str]


def _updated_type(token: RegistrationToken) -> int | None:
    """The tool type an update token names, or None for a new registration."""
    if token.claims.get("scope") != SCOPE_UPDATE_REGISTRATION:
        return None
    sub = str(token.claims.get("sub", ""))
    return int(sub) if sub.isdigit() else -1


def _missing_attribute(payload: dict[str, Any]) -> Problem | None:
    for key in (*REQUIRED_ATTRIBUTES, TOOL_CONFIG_KEY):
        if php_empty(payload.get(key)):
            return 400, f"missing required attribute {key}"
    if not isinstance(payload[TOOL_CONFIG_KEY], (dict, list)):
        return 500, "tool configuration is not an array"
    return None


def _tool_config(payload: dict[str, Any]) -> dict[str, Any]:
    config = payload.get(TOOL_CONFIG_KEY)
    return config if isinstance(config, dict) else {}


def _target_link_uri(config: dict[str, Any]) -> str:
    target = config.get("target_link_uri")
    return php_string(target) if not php_empty(target) else "https://" + php_string(config.get("domain"))


def _domain_problem(payload: dict[str, Any]) -> Problem | None:
    config = _tool_config(payload)
    if php_empty(config.get("domain")):
        return 400, "missing_domain"
    if moodle_domain(php_string(config["domain"])) != moodle_domain(_target_link_uri(config)):
        return 400, "domain_targetlinkuri_mismatch"
    return None


def _value_problem(payload: dict[str, Any]) -> Problem | None:
    responses = payload["response_types"]
    if not isinstance(responses, (list, dict)):
        return 500, "in_array(): Argument #2 ($haystack) must be of type array"
    values = responses.values() if isinstance(responses, dict) else responses
    if "id_token" not in values:
        return 400, "invalid_response_types"
    if not isinstance(payload["redirect_uris"], (list, dict)):
        return 400, "invalid_redirect_uris"
    if payload["token_endpoint_auth_method"] != "private_key_jwt":
        return 400, "invalid_token_endpoint_auth_method"
    application_type = payload.get("application_type")
    if not php_empty(application_type) and application_type != "web":
        return 400, "invalid_application_type"
    return None


def _granted_scope(requested: Any) -> str:
    asked = requested.split(" ") if isinstance(requested, str) else []
    grade_sync = any(s in asked for s in (SCOPE_SCORE, SCOPE_RESULT, SCOPE_LINEITEM_RO, SCOPE_LINEITEM))
    granted: list[str] = []
    if grade_sync:  # Moodle's `?? 0 == 2` test reads the setting itself, so lineitem always follows
        granted += [SCOPE_SCORE, SCOPE_RESULT, SCOPE_LINEITEM_RO, SCOPE_LINEITEM]
    if SCOPE_NRPS in asked:
        granted.append(SCOPE_NRPS)
    if SCOPE_TOOL_SETTING in asked:
        granted.append(SCOPE_TOOL_SETTING)
    return " ".join(granted)


def _claims(requested: Any) -> list[str]:
    if isinstance(requested, dict):
        asked = list(requested.values())
    else:
        asked = requested if isinstance(requested, list) else []
    claims = ["sub", "iss"]
    if any(c in asked for c in ("name", "given_name", "family_name")):
        claims += ["name", "family_name", "given_name"]
    if "email" in asked:
        claims.append("email")
    return claims


def _custom_parameters(custom: Any) -> dict[str, str | None] | None:
    """Tool-level custom parameters after Moodle's ``key=value`` line storage and re-split on ``=``."""
    if php_empty(custom) or not isinstance(custom, dict):
        return None
    lines = "\n".join(f"{key}={php_string(value)}" for key, value in custom.items())
    result: dict[str, str | None] = {}
    for line in lines.split("\n"):
        pieces = line.split("=")
        result[pieces[0]] = pieces[1] if len(pieces) > 1 else None
    return result


def _deep_linking_message(messages: Any) -> dict[str, Any] | None:
    """Moodle keeps only ``LtiDeepLinkingRequest`` (the last one wins) and only its target URL."""
    found: dict[str, Any] | None = None
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and message.get("type") == "LtiDeepLinkingRequest":
            found = {
                "type": "LtiDeepLinkingRequest",
                "target_link_uri": php_string(message.get("target_link_uri")),
            }
    return found


def _tool_config_answer(config: dict[str, Any], type_id: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "version": "1.3.0",
        "deployment_id": str(type_id),
        "target_link_uri": _target_link_uri(config),
        "domain": moodle_domain(php_string(config["domain"])) or "",
        "description": php_string(config.get("description")),
    }
    message = _deep_linking_message(config.get("messages"))
    if message is not None:
        answer["messages"] = [message]
    custom = _custom_parameters(config.get("custom_parameters"))
    if custom:
        answer["custom_parameters"] = custom
    answer["claims"] = _claims(config.get("claims"))
    return answer


def _config_to_registration(payload: dict[str, Any], client_id: str, type_id: int) -> dict[str, Any]:
    redirects = payload["redirect_uris"]
    return {
        "client_id": client_id,
        "response_types": ["id_token"],
        "jwks_uri": php_string(payload["jwks_uri"]),
        "initiate_login_uri": php_string(payload["initiate_login_uri"]),
        "grant_types": ["client_credentials", "implicit"],
        "redirect_uris": [
            php_string(u) for u in (redirects.values() if isinstance(redirects, dict) else redirects)
        ],
        "application_type": "web",
        "token_endpoint_auth_method": "private_key_jwt",
        "client_name": php_string(payload["client_name"]),
        "logo_uri": php_string(payload.get("logo_uri")) if not php_empty(payload.get("logo_uri")) else "",
        "scope": _granted_scope(payload.get("scope")),
        TOOL_CONFIG_KEY: _tool_config_answer(_tool_config(payload), type_id),
    }
