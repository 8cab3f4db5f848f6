"""Canvas (instructure/canvas-lms) emulator.

Facts and their sources (docs/platforms.md, "Canvas"; ``security_controller.rb`` @0e63cfcdc7dc,
``dynamic_registration_controller.rb``, ``lib/schemas/lti/ims/oidc_registration.rb`` @c18700c2,
``lti_tool_configuration.rb`` @0191c9cf and ``lib/schemas/base.rb`` for the error strings' shape):

* issuer = ``base_url`` (``http://127.0.0.1:<port>``); the configuration is on the issuer host at
  ``/api/lti/security/openid-configuration?registration_token=<JWT>``; the registration endpoint is on
  the *account* host, here the other loopback name ``http://localhost:<port>/api/lti/registrations``, so
  "registration endpoint host ≠ issuer host" is exercised; a POST that arrives on the issuer
  host answers 404, as a request to a host that is not the account's would. Auth, JWKS and token URLs
  sit on the auth domain (= the issuer host, as in open-source Canvas) and ``authorization_server`` is
  that bare ``host:port``. Document = fixture ``canvas-openid-configuration.json``;
* registration token: HS256 JWT with ``uuid initiated_at user_id root_account_global_id
  root_account_domain registration_url exp``, 1 h; read **only** from the configuration URL's query
  (``401 {"error": "Access token missing (...)"}`` without it) and as Bearer on the POST (``401
  {"errorMessage": ...}`` when absent, unknown, expired, or missing one of those claims). Canvas does
  not enforce single use (a second POST makes a second developer key, **unverified**): reuse is accepted;
* ``User-Agent`` required on every request (Instructure, January 2026). The refusal's status and body
  are not documented: ``403 {"errors": [{"message": ...}]}`` is **inferred**;
* body: Rails reads it as parameters only with a JSON content type; then JSON-schema validation, every
  failure listed as a string in ``422 {"errors": [...]}`` (required fields, consts, ``uri``/``email``
  formats, the ``domain`` hostname pattern with optional ``:port``, message ``type`` and ``placements``
  enums, string-valued ``custom_parameters``). Placements allowed: the fixture's names (plus
  ``resource_selection``, which Canvas accepts but hides from the document), their
  ``https://canvas.instructure.com/lti/<name>`` forms, ``ContentArea`` and ``RichTextEditor``;
* scopes: ``openid`` refused with ``422 {"errors":[{"field":"scopes","message":"cannot contain openid"}]}``
  (canvas-lms#2398; knob ``reject_openid_scope=False`` drops it silently as the newest code does);
  scopes outside the allow-list and non-http(s) ``target_link_uri``/``redirect_uris`` fail the model
  validation on save: the status is **unverified**, answered ``422`` in the same field style;
  knob ``split_scope=True`` is the 2024 controller, which split ``scope`` whether or not it was sent
  (``registration_params["scope"].split``): a body without ``scope`` fails there with a ``500``;
* properties outside the schemas are filtered out of what is stored and answered;
* what it installs (``installed_placements``, per client id) follows ``registration.rb`` (``placements``,
  ``canvas_placement_name``): a message without placements gets ``link_selection``, ``ContentArea`` is
  ``link_selection``, ``RichTextEditor`` is ``editor_button``, the prefix is dropped, placements Canvas does
  not know are dropped, and of several messages at one placement only the first is kept;
* answer ``200``: ``client_id``, the stored OIDC fields, ``scope`` (stored scopes + ``openid``), the tool
  configuration as stored plus ``.../lti/registration_config_url``, ``registration_client_uri``, and
  ``deployment_id`` at the top level only when the knob ``create_deployment`` is true.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from tests.emulators.fixtures import load_fixture, rewrite_urls
from tests.emulators.platform import (
    PlatformEmulator,
    RegistrationToken,
    bearer_token,
    json_answer,
)
from tests.emulators.rules import (
    PLATFORM_CONFIG_KEY,
    TOOL_CONFIG_KEY,
    is_absolute_uri,
    is_http_url,
    is_string_list,
    is_string_map,
    message_types_of,
    scope_list,
)

FIXTURE_ISSUER = "https://canvas.example.edu"
FIXTURE_AUTH_DOMAIN = "https://sso.canvas.example.edu"
FIXTURE_ACCOUNT_DOMAIN = "https://school.canvas.example.edu"
CANVAS_LTI = "https://canvas.instructure.com/lti/"
REGISTRATION_CONFIG_URL_KEY = CANVAS_LTI + "registration_config_url"

TOKEN_CLAIMS = (
    "user_id",
    "initiated_at",
    "root_account_global_id",
    "root_account_domain",
    "exp",
    "uuid",
    "registration_url",
)
MISSING_TOKEN = "Access token missing (You must include the registration_token parameter)."

REQUIRED_TOP = (
    "application_type",
    "grant_types",
    "response_types",
    "redirect_uris",
    "initiate_login_uri",
    "client_name",
    "jwks_uri",
    "token_endpoint_auth_method",
    TOOL_CONFIG_KEY,
)
REQUIRED_TOOL_CONFIG = ("domain", "messages", "claims")
PRIVACY_LEVELS = (None, "public", "name_only", "email_only", "anonymous")
VISIBILITIES = (None, "admins", "members", "public")

_LABEL = r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
DOMAIN_PATTERN = re.compile(rf"^({_LABEL}\.)*{_LABEL}(:[0-9]{{1,5}})?$")
HOSTNAME_PATTERN = re.compile(rf"^({_LABEL}\.)*{_LABEL}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+$")

Rule = tuple[str, Callable[[Any], bool], str]


def _optional_uri(value: Any) -> bool:
    return value is None or is_absolute_uri(value)


def _optional_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


TOP_RULES: tuple[Rule, ...] = (
    ("application_type", lambda v: v == "web", 'must be "web"'),
    (
        "grant_types",
        lambda v: is_string_list(v) and {"client_credentials", "implicit"} <= set(v),
        "must be an array containing client_credentials and implicit",
    ),
    (
        "response_types",
        lambda v: is_string_list(v) and "id_token" in v,
        "must be an array containing id_token",
    ),
    (
        "redirect_uris",
        lambda v: isinstance(v, list) and bool(v) and all(is_absolute_uri(u) for u in v),
        "must be a non-empty array of uri strings",
    ),
    ("initiate_login_uri", is_absolute_uri, "must be a uri"),
    ("client_name", lambda v: isinstance(v, str) and bool(v), "must be a non-empty string"),
    ("jwks_uri", is_absolute_uri, "must be a uri"),
    ("token_endpoint_auth_method", lambda v: v == "private_key_jwt", 'must be "private_key_jwt"'),
    ("scope", _optional_str, "must be a string or null"),
    (
        "contacts",
        lambda v: is_string_list(v) and all(EMAIL_PATTERN.match(c) for c in v),
        "must be an array of email strings",
    ),
    ("client_uri", _optional_uri, "must be a uri or null"),
    ("logo_uri", _optional_uri, "must be a uri or null"),
    ("tos_uri", _optional_uri, "must be a uri or null"),
    ("policy_uri", _optional_uri, "must be a uri or null"),
)

TOOL_CONFIG_RULES: tuple[Rule, ...] = (
    (
        "domain",
        lambda v: isinstance(v, str) and bool(DOMAIN_PATTERN.match(v)),
        "must be a hostname with an optional :port, without protocol or path",
    ),
    ("messages", lambda v: isinstance(v, list), "must be an array"),
    ("claims", is_string_list, "must be an array of strings"),
    (
        "secondary_domains",
        lambda v: is_string_list(v) and all(HOSTNAME_PATTERN.match(d) for d in v),
        "must be an array of hostnames",
    ),
    ("deployment_id", _optional_str, "must be a string or null"),
    ("target_link_uri", _optional_str, "must be a string or null"),
    ("custom_parameters", is_string_map, "must be an object with string values"),
    ("description", _optional_str, "must be a string or null"),
    (CANVAS_LTI + "privacy_level", lambda v: v in PRIVACY_LEVELS, f"must be one of {PRIVACY_LEVELS}"),
    (CANVAS_LTI + "tool_id", _optional_str, "must be a string or null"),
    (CANVAS_LTI + "vendor", _optional_str, "must be a string or null"),
    (CANVAS_LTI + "disable_reinstall", lambda v: v is None or isinstance(v, bool), "must be a boolean"),
    (
        CANVAS_LTI + "content_migration",
        lambda v: v is None or isinstance(v, (dict, str)),
        "must be an object",
    ),
)

MESSAGE_RULES: tuple[Rule, ...] = (
    ("target_link_uri", _optional_uri, "must be a uri or null"),
    ("label", _optional_str, "must be a string or null"),
    ("icon_uri", _optional_uri, "must be a uri or null"),
    ("custom_parameters", is_string_map, "must be an object with string values"),
    ("roles", is_string_list, "must be an array of strings"),
    (CANVAS_LTI + "course_navigation/default_enabled", lambda v: isinstance(v, bool), "must be a boolean"),
    (CANVAS_LTI + "visibility", lambda v: v in VISIBILITIES, f"must be one of {VISIBILITIES}"),
    (CANVAS_LTI + "display_type", _optional_str, "must be a string or null"),
    (
        CANVAS_LTI + "launch_width",
        lambda v: v is None or isinstance(v, (int, str)),
        "must be an integer or string",
    ),
    (
        CANVAS_LTI + "launch_height",
        lambda v: v is None or isinstance(v, (int, str)),
        "must be an integer or string",
    ),
)

TOP_PROPERTIES = frozenset(rule[0] for rule in TOP_RULES) | {TOOL_CONFIG_KEY}
TOOL_CONFIG_PROPERTIES = frozenset(rule[0] for rule in TOOL_CONFIG_RULES)
MESSAGE_PROPERTIES = frozenset(rule[0] for rule in MESSAGE_RULES) | {"type", "placements"}


def _pointer(*keys: str | int) -> str:
    return "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in keys)


def _error(value: Any, pointer: str, text: str) -> str:
    """One schema error as a string: the offending value, its JSON pointer, what was expected."""
    return f"{json.dumps(value)} at {pointer or '/'} {text}"


def _rule_errors(obj: Mapping[str, Any], rules: tuple[Rule, ...], *where: str | int) -> list[str]:
    return [_error(obj[k], _pointer(*where, k), text) for k, ok, text in rules if k in obj and not ok(obj[k])]


def _required_errors(obj: Mapping[str, Any], required: tuple[str, ...], *where: str | int) -> list[str]:
    missing = [k for k in required if k not in obj]
    return (
        [f"The following fields are required: {', '.join(missing)} at {_pointer(*where) or '/'}"]
        if missing
        else []
    )


def allowed_placements(platform_config: Mapping[str, Any]) -> frozenset[str]:
    """Canvas's placement enum: every advertised placement, its Canvas-prefixed form, and the two
    placements the LTI-DR spec defines (Canvas checks placements against an allow-list)."""
    names = {"resource_selection"}
    for entry in platform_config.get("messages_supported", []):
        names.update(p for p in entry.get("placements", []) if isinstance(p, str))
    return frozenset(names | {CANVAS_LTI + n for n in names} | {"ContentArea", "RichTextEditor"})


class CanvasEmulator(PlatformEmulator):
    """Canvas cloud-style layout on loopback (see the module docstring for each rule's source).

    Knobs beyond the base ones: ``create_deployment`` (answer a top-level ``deployment_id``),
    ``reject_openid_scope`` (422 on ``openid`` in ``scope``; False drops it instead), ``split_scope`` (the
    2024 controller: a body without ``scope`` is a 500)."""

    name = "canvas"
    product_family_code = "canvas"
    configuration_path = "/api/lti/security/openid-configuration"
    registration_path = "/api/lti/registrations"

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.create_deployment = False
        self.reject_openid_scope = True
        self.split_scope = False
        self.installed_placements: dict[str, dict[str, str]] = {}
        self.next_client_id = 10000000000001
        self._signing_key = secrets.token_bytes(32)
        fixture = self.base_configuration(None, None)
        self.allowed_scopes = frozenset(fixture["scopes_supported"])
        self.message_types = frozenset(message_types_of(fixture[PLATFORM_CONFIG_KEY]))
        self.placements = allowed_placements(fixture[PLATFORM_CONFIG_KEY])

    @property
    def registration_host(self) -> str:
        return urlsplit(self.alt_base_url).netloc

    def configuration_url(self, token: RegistrationToken | None = None) -> str:
        url = self.base_url + self.configuration_path
        return url if token is None else f"{url}?registration_token={quote(token.value, safe='')}"

    def registration_endpoint(self, token: RegistrationToken | None = None) -> str:
        return self.alt_base_url + self.registration_path

    def base_configuration(self, token: RegistrationToken | None, request: Request | None) -> dict[str, Any]:
        origins = {
            FIXTURE_ISSUER: self.base_url,
            FIXTURE_AUTH_DOMAIN: self.base_url,
            FIXTURE_ACCOUNT_DOMAIN: self.alt_base_url,
        }
        document: dict[str, Any] = rewrite_urls(load_fixture("canvas-openid-configuration"), origins)
        document["authorization_server"] = urlsplit(self.base_url).netloc
        return document

    # ----------------------------------------------------------------- token: HS256 JWT
    def token_claims(self) -> dict[str, Any]:
        return {
            "uuid": str(uuid.uuid4()),
            "initiated_at": datetime.fromtimestamp(self.now(), UTC).isoformat(timespec="seconds"),
            "user_id": 1,
            "root_account_global_id": 10000000000001,
            "root_account_domain": self.registration_host,
            "registration_url": "",
        }

    def new_token_value(self, claims: dict[str, Any], issued_at: float) -> str:
        claims.setdefault("exp", int(issued_at + (self.token_ttl or 0)))
        encode = _b64
        signing_input = encode(b'{"alg":"HS256","typ":"JWT"}') + "." + encode(json.dumps(claims).encode())
        signature = hmac.new(self._signing_key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + encode(signature)

    def claims_for_tool_url(self, tool_registration_url: str) -> dict[str, Any]:
        return {"registration_url": tool_registration_url}

    # ----------------------------------------------------------------- refusals
    def refuse_request(self, request: Request) -> Response | None:
        if request.headers.get("user-agent", "").strip():
            return None
        return json_answer(
            403, {"errors": [{"message": "A User-Agent header is required for this request."}]}
        )

    def check_configuration_request(self, request: Request) -> RegistrationToken | Response | None:
        value = request.query_params.get("registration_token")
        if not value:
            return json_answer(401, {"error": MISSING_TOKEN})
        token = self.find_token(value)
        if self.token_state(token) in ("unknown", "expired"):
            return json_answer(401, {"error": "Invalid or expired registration_token."})
        return token

    def check_registration_request(self, request: Request) -> RegistrationToken | Response | None:
        if request.headers.get("host") != self.registration_host:
            return json_answer(404, {"errors": [{"message": "The specified resource does not exist."}]})
        token = self.find_token(bearer_token(request))
        if token is None or self.token_state(token) == "expired":
            return json_answer(401, {"errorMessage": "Invalid or expired registration token"})
        if sorted(token.claims) != sorted(TOKEN_CLAIMS):
            return json_answer(401, {"errorMessage": "JWT did not include expected contents"})
        return token

    def consume_token(self, token: RegistrationToken) -> None:
        """Canvas keeps no record of used tokens (its tokens are stateless JWTs): nothing to do."""

    # ----------------------------------------------------------------- body
    def parse_registration(self, request: Request, body: bytes) -> dict[str, Any] | Response:
        """Rails turns a body into parameters only when it is declared JSON; otherwise every field is
        missing and the schema check lists them."""
        if not request.headers.get("content-type", "").startswith("application/json"):
            return {}
        try:
            payload = json.loads(body)
        except ValueError:
            return json_answer(400, {"errors": [{"message": "Invalid JSON in the request body."}]})
        return payload if isinstance(payload, dict) else {}

    async def validate_registration(
        self, payload: dict[str, Any], token: RegistrationToken | None
    ) -> Response | None:
        if self.split_scope and not isinstance(payload.get("scope"), str):
            # Rails answers a NoMethodError (split on nil) with its generic error page.
            return json_answer(500, {"errors": [{"message": "An error occurred."}]})
        errors = self.schema_errors(payload)
        if errors:
            return json_answer(422, {"errors": errors})
        field_errors = self.scope_errors(payload) or _model_errors(payload)
        return json_answer(422, {"errors": field_errors}) if field_errors else None

    def schema_errors(self, payload: dict[str, Any]) -> list[str]:
        errors = _required_errors(payload, REQUIRED_TOP) + _rule_errors(payload, TOP_RULES)
        config = payload.get(TOOL_CONFIG_KEY)
        if TOOL_CONFIG_KEY in payload and not isinstance(config, dict):
            return [*errors, _error(config, _pointer(TOOL_CONFIG_KEY), "must be an object")]
        if isinstance(config, dict):
            errors += _required_errors(config, REQUIRED_TOOL_CONFIG, TOOL_CONFIG_KEY)
            errors += _rule_errors(config, TOOL_CONFIG_RULES, TOOL_CONFIG_KEY)
            for index, message in enumerate(config.get("messages") or []):
                errors += self.message_errors(message, index)
        return errors

    def message_errors(self, message: Any, index: int) -> list[str]:
        where = (TOOL_CONFIG_KEY, "messages", index)
        if not isinstance(message, dict):
            return [_error(message, _pointer(*where), "must be an object")]
        errors = _required_errors(message, ("type",), *where) + _rule_errors(message, MESSAGE_RULES, *where)
        if "type" in message and message["type"] not in self.message_types:
            expected = f"must be one of {sorted(self.message_types)}"
            errors.append(_error(message["type"], _pointer(*where, "type"), expected))
        placements = message.get("placements", [])
        if not is_string_list(placements) or not set(placements) <= self.placements:
            errors.append(
                _error(placements, _pointer(*where, "placements"), "must be an array of known placements")
            )
        return errors

    def scope_errors(self, payload: dict[str, Any]) -> list[dict[str, str]]:
        scopes = scope_list(payload.get("scope"))
        if "openid" in scopes and self.reject_openid_scope:
            return [{"field": "scopes", "message": "cannot contain openid"}]
        unknown = [s for s in scopes if s not in self.allowed_scopes and s != "openid"]
        return [{"field": "scopes", "message": "Invalid scopes: " + ", ".join(unknown)}] if unknown else []

    # ----------------------------------------------------------------- answer
    def accept_registration(self, payload: dict[str, Any], token: RegistrationToken | None) -> dict[str, Any]:
        client_id = self.next_client_id
        self.next_client_id += 2  # the developer key and the registration each take a global id
        registration_url = f"{self.alt_base_url}{self.registration_path}/{client_id + 1}"
        config = _filtered_tool_config(payload[TOOL_CONFIG_KEY])
        config[REGISTRATION_CONFIG_URL_KEY] = registration_url + "/view"
        scopes = [s for s in scope_list(payload.get("scope")) if s != "openid"]
        self.installed_placements[str(client_id)] = installed_placements(config["messages"], self.placements)
        answer = {
            "client_id": str(client_id),
            **{
                k: payload.get(k)
                for k in (
                    "application_type",
                    "grant_types",
                    "initiate_login_uri",
                    "redirect_uris",
                    "response_types",
                    "client_name",
                    "jwks_uri",
                    "logo_uri",
                    "token_endpoint_auth_method",
                )
            },
            "scope": " ".join([*scopes, "openid"]),
            TOOL_CONFIG_KEY: config,
            "registration_client_uri": registration_url,
            "deployment_id": f"{client_id}:{secrets.token_hex(20)}" if self.create_deployment else None,
        }
        return {k: v for k, v in answer.items() if v is not None}


def installed_placements(messages: list[dict[str, Any]], known: frozenset[str]) -> dict[str, str]:
    """Canvas placement name -> the message type launched there, as Canvas turns messages into placements."""
    installed: dict[str, str] = {}
    for message in messages:
        for placement in message.get("placements") or ["link_selection"]:
            name = {"ContentArea": "link_selection", "RichTextEditor": "editor_button"}.get(placement, placement)
            name = name.removeprefix(CANVAS_LTI)
            if name in known:
                installed.setdefault(name, message["type"])  # `.uniq { |p| p[:placement] }` keeps the first
    return installed


def _model_errors(payload: dict[str, Any]) -> list[dict[str, str]]:
    """Checks Canvas runs when saving the model (after the schema): http(s) URLs only."""
    errors = []
    target = payload[TOOL_CONFIG_KEY].get("target_link_uri")
    if target is not None and not is_http_url(target):
        errors.append({"field": "target_link_uri", "message": "is not a valid http(s) URL"})
    if not all(is_http_url(u) for u in payload["redirect_uris"]):
        errors.append({"field": "redirect_uris", "message": "must all be valid http(s) URLs"})
    return errors


def _filtered_tool_config(config: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in config.items() if k in TOOL_CONFIG_PROPERTIES}
    kept["messages"] = [{k: v for k, v in m.items() if k in MESSAGE_PROPERTIES} for m in config["messages"]]
    return kept


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
