"""The LMS side of LTI 1.3 launches, mixed into every platform emulator (``PlatformEmulator.launch_routes``).

What it plays, on the URLs the emulator's configuration document advertises (so each platform keeps its
own layout) plus ``DEEP_LINK_RETURN_PATH``:

* the platform's own RSA key, and its JWKS endpoint answering with ``Cache-Control`` (knob
  ``jwks_cache_control``; ``jwks_response`` forces an answer, e.g. a 503);
* the OIDC authorization endpoint (1EdTech Security Framework §5.1.1.2), checking the request as the
  platform does: every platform wants ``scope=openid``, ``response_type=id_token``,
  ``response_mode=form_post``, ``prompt`` absent or ``none``, a registered ``client_id`` and
  ``redirect_uri``, and the ``login_hint`` / ``lti_message_hint`` of a launch it started; Canvas also
  requires each of ``AUTHORIZATION_REQUIRED["canvas"]``. A refusal with a usable ``redirect_uri`` is a
  form_post of ``error``/``error_description``/``state`` to it (as Moodle's auth.php does); without one, a
  plain 400;
* the answer: a self-submitting form_post of a signed ``id_token`` and the ``state`` to the ``redirect_uri``
  (``parse_form_post`` reads it, so tests can post it with httpx);
* the token endpoint (1EdTech Security Framework §4.1): form-encoded ``client_credentials`` with a JWT client
  assertion, verified against the tool's JWKS fetched from the registered ``jwks_uri``; ``iat`` at most 5 min
  old and 30 s ahead, ``exp`` not past, ``jti`` never seen before (Canvas's rules), and ``aud`` as the
  platform checks it (``assertion_audiences``: Canvas the token endpoint URL on the requested host,
  Moodle and Sakai nothing, others as LTI-DR says: the ``authorization_server`` they publish, else the token
  endpoint); scopes outside the registration's grant (or in ``revoked_scopes``) are ``invalid_scope``;
* the Deep Linking return URL: verifies the tool's response JWT (form field ``JWT``), records its claims, and
  keeps its ``ltiResourceLink`` items in ``stored_items`` as the course would; ``login_initiation(item=...)``
  launches one as the platform does: Moodle (``lti_build_login_request``: the item's URL as the endpoint) and
  Canvas (``lti_advantage_adapter.rb``, ``login_request``) send the item's ``url``, or the registered
  ``target_link_uri`` when it has none, as ``target_link_uri`` in the login and in the id_token; with knob
  ``item_url_in_login=False`` the platform plays Open edX (``lti-consumer-xblock``: the login carries the
  registered URL, and ``set_dl_content_launch_parameters`` swaps in the item's URL for the id_token only). A
  ``LtiSubmissionReviewRequest`` of an item goes to its ``lineItem.submissionReview.url`` when it has one;
* the 1EdTech LTI Client Side postMessages storage: ``STORAGE_FRAME_PATH`` is the storage frame (on the
  platform's origin, answering ``lti.put_data`` / ``lti.get_data`` from an in-memory map, so per browser tab),
  ``COURSE_PATH`` a course page framing it (named ``STORAGE_TARGET``), then the tool's login once it has
  loaded (``?storage=page``: no such frame, the page answers itself, as Canvas's rich content editor does);
  knob ``storage_target`` makes the login initiation send ``lti_storage_target``.

Test helpers: ``login_initiation(...)`` starts a launch as the LMS would; ``mint_id_token(claims, ...)`` signs
claims the way the knobs say (``id_token_alg`` ``RS256``/``none``/``HS256``, ``id_token_signer``
``platform``/``impostor``/``unknown_kid``); ``id_token_patch`` / ``id_token_header_patch`` bend every
id_token the endpoint issues (``REMOVE`` drops a claim); ``rotate_key()`` publishes a new key.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from tests.emulators.rules import TOOL_CONFIG_KEY

if TYPE_CHECKING:
    from tests.emulators.platform import RecordedRequest, RegistrationToken

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEEP_LINK_RETURN_PATH = "/lti/deep_link_return"
STORAGE_FRAME_PATH = "/lti/storage_frame"
COURSE_PATH = "/lti/course"
STORAGE_TARGET = "lti_storage_frame"
# The storage frame's script: answers each request to the window that sent it, at that window's origin.
STORAGE_SCRIPT = """
var store = {};
window.addEventListener("message", function (event) {
  var m = event.data || {};
  if (m.subject !== "lti.put_data" && m.subject !== "lti.get_data") { return; }
  var answer = {subject: m.subject + ".response", message_id: m.message_id, key: m.key};
  if (typeof m.key !== "string") {
    answer.error = {code: "bad_request", message: "key is required"};
  } else if (m.subject === "lti.put_data") {
    store[event.origin + " " + m.key] = m.value;
    answer.value = m.value;
  } else {
    answer.value = store[event.origin + " " + m.key];
  }
  event.source.postMessage(answer, event.origin);
});
"""
RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
SUBMISSION_REVIEW = "LtiSubmissionReviewRequest"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"

AUTHORIZATION_REQUIRED: dict[str, tuple[str, ...]] = {
    "default": ("client_id", "login_hint", "nonce", "redirect_uri", "response_mode", "response_type", "scope"),
    # Canvas: `Lti::Oidc` lists every one of these as required (canvas-lms `lib/lti/oidc.rb`).
    "canvas": (
        "client_id",
        "login_hint",
        "lti_message_hint",
        "nonce",
        "prompt",
        "redirect_uri",
        "response_mode",
        "response_type",
        "scope",
    ),
}
# Platforms that do not check the client assertion's `aud` at all (docs/platforms.md, Moodle and Sakai).
UNCHECKED_AUDIENCE = frozenset({"moodle", "sakai"})
ASSERTION_MAX_AGE_S = 300
ASSERTION_MAX_SKEW_S = 30
ID_TOKEN_LIFETIME_S = 300


@dataclass
class PendingLaunch:
    """A launch the LMS started: what it will put in the id_token once the tool comes back to authorize."""

    client_id: str
    deployment_id: str
    message_type: str
    user: str
    login_hint: str
    lti_message_hint: str
    target_link_uri: str
    extra_claims: dict[str, Any] = field(default_factory=dict)
    # The id_token's target when it differs from the login's (Open edX's deep-linked items).
    id_token_target_link_uri: str | None = None


@dataclass(frozen=True)
class LoginInitiation:
    """Where and what the LMS posts to start a launch (the tool's ``initiate_login_uri`` and the form)."""

    url: str
    params: dict[str, str]
    launch: PendingLaunch
    # The LMS page the browser is on when it starts the login: browsers name it (Origin on the form post,
    # Referer on a link), and the broker goes straight on only for its platform's pages.
    page_url: str = ""

    def browser_headers(self, method: str) -> dict[str, str]:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.page_url))
        return {"Origin": origin} if method == "POST" else {"Referer": self.page_url}


@dataclass(frozen=True)
class FormPost:
    action: str
    fields: dict[str, str]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = values.get("action", "")
        elif tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")


def parse_form_post(page: str) -> FormPost:
    """The first form of an auto-posting page (the platform's form_post, the broker's relay)."""
    parser = _FormParser()
    parser.feed(page)
    if parser.action is None:
        raise AssertionError(f"no form in the page: {page[:300]!r}")
    return FormPost(parser.action, parser.fields)


def form_post_page(action: str, fields: Mapping[str, str]) -> HTMLResponse:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in fields.items()
    )
    return HTMLResponse(
        f'<!DOCTYPE html><html><body><form method="post" action="{html.escape(action)}">{inputs}'
        '<button type="submit">Continue</button></form>'
        "<script>document.forms[0].submit();</script></body></html>"
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_json(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unverified_part(token: str, index: int) -> dict[str, Any]:
    try:
        part = token.split(".")[index]
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _apply_patch(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    from tests.emulators.platform import REMOVE  # the base module imports this one; import at use

    for key, value in patch.items():
        if value is REMOVE:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, {"kid": f"platform-{secrets.token_hex(4)}", "use": "sig", "alg": "RS256"})


class _LaunchRoutes(BaseRoute):
    """Routes on the exact paths of the configuration documents, worked out at request time: the documents
    can only be built once a subclass's constructor has run, and some (Sakai's token URL) differ per
    registration token."""

    def __init__(self, paths: Callable[[], dict[str, tuple[Callable[[Request], Any], tuple[str, ...]]]]) -> None:
        self._paths = paths

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        found = self._paths().get(scope["path"])
        if found is None:
            return Match.NONE, {}
        endpoint, methods = found
        match = Match.FULL if scope["method"] in methods else Match.PARTIAL
        return match, {"endpoint": endpoint, "launch_methods": methods}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if scope["method"] not in scope["launch_methods"]:
            response: Response = Response("Method Not Allowed", status_code=405)
        else:
            response = await scope["endpoint"](request)
        await response(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)


class LaunchSide:
    """The launch half of a platform emulator; ``PlatformEmulator`` calls ``init_launch_side()``."""

    if TYPE_CHECKING:
        name: str
        product_family_code: str
        base_url: str
        registrations: list[dict[str, Any]]
        requests: list[RecordedRequest]
        jwks_query: dict[str, str]
        tokens: dict[str, RegistrationToken]
        _lock: threading.Lock

        @property
        def issuer(self) -> str: ...

        def now(self) -> float: ...

        def openid_configuration(
            self, token: RegistrationToken | None = None, request: Request | None = None
        ) -> dict[str, Any]: ...

        def refuse_request(self, request: Request) -> Response | None: ...

    def init_launch_side(self) -> None:
        self.jwks_cache_control = "public, max-age=300"
        self.jwks_response: tuple[int, bytes, str] | None = None
        self.token_response: tuple[int, bytes, str] | None = None
        self.access_token_lifetime = 3600
        self.revoked_scopes: set[str] = set()
        self.id_token_patch: dict[str, Any] = {}
        self.id_token_header_patch: dict[str, Any] = {}
        self.id_token_alg = "RS256"
        self.id_token_signer = "platform"
        self.pending_launches: dict[str, PendingLaunch] = {}
        self.authorization_requests: list[dict[str, str]] = []
        self.id_tokens: list[str] = []
        self.token_requests: list[dict[str, Any]] = []
        self.issued_access_tokens: list[dict[str, Any]] = []
        self.deep_link_responses: list[dict[str, Any]] = []
        self.stored_items: list[dict[str, Any]] = []
        self.item_url_in_login = True
        self.seen_assertion_ids: set[str] = set()
        self.storage_target: str | None = None
        self._platform_keys: list[RSAKey] = []
        self._path_cache: tuple[int, dict[str, tuple[Callable[[Request], Any], tuple[str, ...]]]] | None = None

    def launch_side_routes(self) -> list[BaseRoute]:
        return [_LaunchRoutes(self._launch_paths)]

    # ----------------------------------------------------------------- keys
    @property
    def platform_key(self) -> RSAKey:
        """The key the platform signs id_tokens with (made on first use: RSA generation is slow)."""
        with self._lock:
            if not self._platform_keys:
                self._platform_keys.append(_new_key())
            return self._platform_keys[-1]

    def rotate_key(self, *, keep_old: bool = True) -> RSAKey:
        """Publish a new signing key (and, unless told otherwise, keep the old one in the JWKS)."""
        key = _new_key()
        with self._lock:
            self._platform_keys = [*self._platform_keys, key] if keep_old else [key]
        return key

    def jwks_document(self) -> dict[str, Any]:
        self.platform_key  # noqa: B018 - make sure there is one
        with self._lock:
            return {"keys": [key.as_dict(private=False) for key in self._platform_keys]}

    # ----------------------------------------------------------------- starting a launch
    def registered_client(self, client_id: str | None = None) -> dict[str, Any]:
        """The stored registration of ``client_id`` (the latest one when None)."""
        with self._lock:
            found = [r for r in self.registrations if client_id is None or r.get("client_id") == client_id]
        if not found:
            raise LookupError(f"no registration for client_id {client_id!r}")
        return found[-1]

    @staticmethod
    def deployment_of(registration: Mapping[str, Any]) -> str | None:
        config = registration.get(TOOL_CONFIG_KEY)
        if isinstance(config, dict) and config.get("deployment_id"):
            return str(config["deployment_id"])
        value = registration.get("deployment_id")
        return str(value) if value else None

    def login_initiation(
        self,
        *,
        client_id: str | None = None,
        deployment_id: str | None = None,
        message_type: str = RESOURCE_LINK,
        user: str = "user-1",
        target_link_uri: str | None = None,
        send_client_id: bool = True,
        send_deployment_id: bool = True,
        extra_claims: dict[str, Any] | None = None,
        item: Mapping[str, Any] | None = None,
    ) -> LoginInitiation:
        """What the LMS sends to the tool's ``initiate_login_uri`` to start a launch, remembered for the
        authorization request that follows; with ``item``, the launch of that stored content item."""
        registration = self.registered_client(client_id)
        deployment = deployment_id or self.deployment_of(registration) or f"{self.name}-deployment-1"
        config = registration.get(TOOL_CONFIG_KEY) or {}
        registered_target = str(config.get("target_link_uri", ""))
        item_target = None if item is None else _item_url(item, message_type)
        if item_target is not None and not self.item_url_in_login:
            target_link_uri = target_link_uri or registered_target
        else:
            target_link_uri = target_link_uri or item_target or registered_target
        pending = PendingLaunch(
            client_id=str(registration["client_id"]),
            deployment_id=deployment,
            message_type=message_type,
            user=user,
            login_hint=f"hint-{user}",
            lti_message_hint=secrets.token_urlsafe(12),
            target_link_uri=target_link_uri,
            extra_claims=extra_claims or {},
            id_token_target_link_uri=item_target,
        )
        with self._lock:
            self.pending_launches[pending.lti_message_hint] = pending
        params = {
            "iss": self.issuer,
            "login_hint": pending.login_hint,
            "target_link_uri": pending.target_link_uri,
            "lti_message_hint": pending.lti_message_hint,
        }
        if send_client_id:
            params["client_id"] = pending.client_id
        if send_deployment_id:
            params["lti_deployment_id"] = deployment
        if self.storage_target is not None:
            params["lti_storage_target"] = self.storage_target
        return LoginInitiation(str(registration["initiate_login_uri"]), params, pending, self.base_url + COURSE_PATH)

    # ----------------------------------------------------------------- id_tokens
    def id_token_claims(self, pending: PendingLaunch, nonce: str) -> dict[str, Any]:
        """The claims of the id_token for ``pending`` before ``id_token_patch``."""
        now = int(self.now())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": pending.client_id,
            "sub": pending.user,
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME_S,
            "nonce": nonce,
            "name": "Ada <b>Lovelace</b>",
            LTI + "message_type": pending.message_type,
            LTI + "version": "1.3.0",
            LTI + "deployment_id": pending.deployment_id,
            LTI + "target_link_uri": pending.id_token_target_link_uri or pending.target_link_uri,
            LTI + "roles": [INSTRUCTOR if pending.message_type == DEEP_LINKING else LEARNER],
            LTI + "context": {"id": "course-1", "label": "HIST 101", "title": "History <i>of</i> Science"},
            LTI + "tool_platform": {"guid": self.issuer, "product_family_code": self.product_family_code},
        }
        if pending.message_type == DEEP_LINKING:
            claims[DL + "deep_linking_settings"] = {
                "deep_link_return_url": self.base_url + DEEP_LINK_RETURN_PATH,
                "accept_types": ["ltiResourceLink", "link"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True,
                "data": f"csrf-{secrets.token_hex(6)}",
            }
        else:
            claims[LTI + "resource_link"] = {"id": "resource-1", "title": "Week 1 quiz"}
        claims.update(copy.deepcopy(pending.extra_claims))
        return claims

    def mint_id_token(
        self, claims: Mapping[str, Any], *, alg: str | None = None, signer: str | None = None
    ) -> str:
        """Sign ``claims`` as the knobs say (or as ``alg`` / ``signer`` say), ``id_token_header_patch`` applied."""
        alg = alg or self.id_token_alg
        signer = signer or self.id_token_signer
        key = self.platform_key if signer == "platform" else _new_key()
        kid = key["kid"] if signer != "impostor" else self.platform_key["kid"]
        header: dict[str, Any] = {"alg": alg, "kid": kid, "typ": "JWT"}
        _apply_patch(header, self.id_token_header_patch)
        signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
        if alg == "none":
            return signing_input + "."
        if alg == "HS256":
            # The classic confusion attack: the platform's *public* key used as an HMAC secret.
            secret = self.platform_key.as_pem(private=False)
            return signing_input + "." + b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
        # Signed as written, whatever the header says: the broker, not the signer, must refuse a bad header.
        return signing_input + "." + b64url(jws.JWSRegistry.algorithms[alg].sign(signing_input.encode(), key))

    # ----------------------------------------------------------------- routing
    def _launch_paths(self) -> dict[str, tuple[Callable[[Request], Any], tuple[str, ...]]]:
        with self._lock:
            tokens = list(self.tokens.values())
        cached = self._path_cache
        if cached is not None and cached[0] == len(tokens):
            return cached[1]
        paths: dict[str, tuple[Callable[[Request], Any], tuple[str, ...]]] = {
            DEEP_LINK_RETURN_PATH: (self._deep_link_return, ("POST",)),
            STORAGE_FRAME_PATH: (self._storage_frame, ("GET",)),
            COURSE_PATH: (self._course, ("GET",)),
        }
        for token in [None, *tokens]:
            document = self.openid_configuration(token)
            for key, endpoint, methods in (
                ("authorization_endpoint", self._authorize, ("GET", "POST")),
                ("jwks_uri", self._jwks, ("GET",)),
                ("token_endpoint", self._token, ("POST",)),
            ):
                if isinstance(document.get(key), str):
                    paths[urlsplit(document[key]).path] = (endpoint, methods)
        self._path_cache = (len(tokens), paths)
        return paths

    def _refused_or_forced(self, request: Request, forced: tuple[int, bytes, str] | None) -> Response | None:
        """The platform's blanket refusal (Canvas: no User-Agent), else the answer a test forced, else None."""
        refusal = self.refuse_request(request)
        if refusal is not None:
            return refusal
        if forced is None:
            return None
        status, body, content_type = forced
        return Response(body, status_code=status, headers={"content-type": content_type})

    # ----------------------------------------------------------------- client-side postMessage storage
    async def _storage_frame(self, request: Request) -> Response:
        return HTMLResponse(f"<!DOCTYPE html><html><body><script>{STORAGE_SCRIPT}</script></body></html>")

    async def _course(self, request: Request) -> Response:
        """The LMS's course page: its storage frame (always on the platform's own origin), then, once that frame
        has loaded (as an LMS page holds it before any tool), the tool's login. With ``?storage=page`` the page
        has no storage frame and answers the storage messages itself, as Canvas's rich content editor does."""
        login = html.escape(request.query_params.get("login", "about:blank"))
        tool = f'<iframe id="tool" data-src="{login}" width="900" height="700"></iframe>'
        frame_tool = "var t = document.getElementById('tool'); t.src = t.dataset.src;"
        if request.query_params.get("storage") == "page":
            return HTMLResponse(
                f"<!DOCTYPE html><html><body>{tool}<script>{STORAGE_SCRIPT}{frame_tool}</script></body></html>"
            )
        frame = html.escape(self.base_url + STORAGE_FRAME_PATH)
        return HTMLResponse(
            f'<!DOCTYPE html><html><body><iframe name="{STORAGE_TARGET}" src="{frame}" hidden '
            f'onload="{frame_tool}"></iframe>{tool}</body></html>'
        )

    # ----------------------------------------------------------------- JWKS
    async def _jwks(self, request: Request) -> Response:
        early = self._refused_or_forced(request, self.jwks_response)
        if early is not None:
            return early
        if any(request.query_params.get(name) != value for name, value in self.jwks_query.items()):
            return JSONResponse({"error": "the key set needs its key"}, status_code=403)
        return JSONResponse(self.jwks_document(), headers={"Cache-Control": self.jwks_cache_control})

    # ----------------------------------------------------------------- OIDC authorization endpoint
    async def _authorize(self, request: Request) -> Response:
        if request.method == "GET":
            params = dict(request.query_params)
        else:
            params = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        with self._lock:
            self.authorization_requests.append(params)
        registration = self._registration_or_none(params.get("client_id"))
        redirect_uri = params.get("redirect_uri", "")
        if registration is None or redirect_uri not in registration.get("redirect_uris", []):
            return Response("invalid client_id or unregistered redirect_uri", status_code=400)
        problem = self.authorization_problem(params)
        if problem is not None:
            error, description = problem
            fields = {"error": error, "error_description": description, "state": params.get("state", "")}
            return form_post_page(redirect_uri, fields)
        with self._lock:
            pending = self.pending_launches.pop(params["lti_message_hint"])
        claims = self.id_token_claims(pending, params["nonce"])
        _apply_patch(claims, self.id_token_patch)
        id_token = self.mint_id_token(claims)
        with self._lock:
            self.id_tokens.append(id_token)
        return form_post_page(redirect_uri, {"id_token": id_token, "state": params.get("state", "")})

    def authorization_problem(self, params: Mapping[str, str]) -> tuple[str, str] | None:
        """Why the platform refuses this authentication request, as (error, description), or None."""
        required = AUTHORIZATION_REQUIRED.get(self.name, AUTHORIZATION_REQUIRED["default"])
        missing = [name for name in required if not params.get(name)]
        if missing:
            return "invalid_request", f"missing {', '.join(missing)}"
        expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post"}
        for name, value in expected.items():
            if params[name] != value:
                return ("invalid_scope" if name == "scope" else "invalid_request"), f"{name} must be {value}"
        if params.get("prompt", "none") != "none":
            return "invalid_request", "prompt must be none"
        with self._lock:
            pending = self.pending_launches.get(params.get("lti_message_hint", ""))
        if pending is None:
            return "invalid_request", "unknown lti_message_hint"
        if params["login_hint"] != pending.login_hint:
            return "login_required", "the login_hint is not the signed-in user"
        if params["client_id"] != pending.client_id:
            return "unauthorized_client", "this launch is for another client"
        return None

    def _registration_or_none(self, client_id: str | None) -> dict[str, Any] | None:
        try:
            return self.registered_client(client_id) if client_id else None
        except LookupError:
            return None

    # ----------------------------------------------------------------- token endpoint
    async def _token(self, request: Request) -> Response:
        early = self._refused_or_forced(request, self.token_response)
        if early is not None:
            return early
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "the token request must be form-urlencoded")
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        with self._lock:
            self.token_requests.append({"form": form, "headers": dict(request.headers)})
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "only client_credentials")
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            return _oauth_error(400, "invalid_request", "client_assertion_type must be jwt-bearer")
        claims = await self._verified_assertion(request, form.get("client_assertion", ""))
        if isinstance(claims, Response):
            return claims
        registration = self.registered_client(claims["sub"])
        return self._grant(registration, form.get("scope", ""))

    async def _verified_assertion(self, request: Request, assertion: str) -> dict[str, Any] | Response:
        client_id = unverified_part(assertion, 1).get("sub")
        registration = self._registration_or_none(client_id if isinstance(client_id, str) else None)
        if registration is None:
            return _oauth_error(401, "invalid_client", "unknown client")
        claims = await _verify_with_jwks(assertion, str(registration["jwks_uri"]))
        if claims is None:
            return _oauth_error(401, "invalid_client", "the client assertion does not verify with the tool's JWKS")
        problem = self.assertion_problem(claims, request)
        return _oauth_error(401, "invalid_client", problem) if problem else claims

    def assertion_problem(self, claims: Mapping[str, Any], request: Request) -> str | None:
        now = self.now()
        if claims.get("iss") != claims.get("sub"):
            return "iss must equal sub (the client_id)"
        iat, exp, jti = claims.get("iat"), claims.get("exp"), claims.get("jti")
        if not isinstance(iat, int) or not isinstance(exp, int) or not isinstance(jti, str):
            return "iat, exp and jti are required"
        if iat < now - ASSERTION_MAX_AGE_S or iat > now + ASSERTION_MAX_SKEW_S or exp < now:
            return "the assertion is expired or issued at a bad time"
        with self._lock:
            if jti in self.seen_assertion_ids:
                return "jti was already used"
            self.seen_assertion_ids.add(jti)
        audiences = self.assertion_audiences(request)
        if audiences is None:
            return None
        aud = claims.get("aud")
        presented = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        return None if presented & audiences else f"aud must be one of {sorted(audiences)}"

    def assertion_audiences(self, request: Request) -> set[str] | None:
        """The ``aud`` values the platform accepts in a client assertion; None when it does not check."""
        if self.name in UNCHECKED_AUDIENCE:
            return None
        if self.name == "canvas":
            return {f"{request.url.scheme}://{request.headers.get('host', '')}{request.url.path}"}
        # LTI-DR: the published `authorization_server` when there is one, else the token endpoint.
        document = self.openid_configuration()
        return {str(document.get("authorization_server") or document["token_endpoint"])}

    def _grant(self, registration: Mapping[str, Any], requested: str) -> Response:
        granted = set(str(registration.get("scope", "")).split()) - {"openid"} - self.revoked_scopes
        scopes = requested.split()
        refused = [scope for scope in scopes if scope not in granted]
        if not scopes or refused:
            return _oauth_error(400, "invalid_scope", f"not granted to this tool: {' '.join(refused) or '(none)'}")
        answer = {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": self.access_token_lifetime,
            "scope": " ".join(scopes),
        }
        with self._lock:
            self.issued_access_tokens.append({**answer, "client_id": registration["client_id"]})
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    # ----------------------------------------------------------------- Deep Linking return
    async def _deep_link_return(self, request: Request) -> Response:
        token = (await request.form()).get("JWT")
        client_id = unverified_part(token, 1).get("iss") if isinstance(token, str) else None
        registration = self._registration_or_none(client_id if isinstance(client_id, str) else None)
        if registration is None or not isinstance(token, str):
            return Response("unknown client", status_code=400)
        claims = await _verify_with_jwks(token, str(registration["jwks_uri"]))
        if claims is None or claims.get("aud") not in (self.issuer, [self.issuer]):
            return Response("the Deep Linking response does not verify", status_code=400)
        if claims.get(LTI + "message_type") != "LtiDeepLinkingResponse":
            return Response("not a Deep Linking response", status_code=400)
        items = claims.get(DL + "content_items") or []
        with self._lock:
            self.deep_link_responses.append(claims)
            self.stored_items.extend(i for i in items if isinstance(i, dict) and i.get("type") == "ltiResourceLink")
        return HTMLResponse("<p>Content added to the course.</p>")


def _item_url(item: Mapping[str, Any], message_type: str) -> str | None:
    """Where the platform launches a stored item: its submission review URL for a review, else its ``url``."""
    if message_type == SUBMISSION_REVIEW:
        review = (item.get("lineItem") or {}).get("submissionReview") or {}
        if isinstance(review.get("url"), str):
            return str(review["url"])
    url = item.get("url")
    return url if isinstance(url, str) else None


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


async def _verify_with_jwks(token: str, jwks_uri: str) -> dict[str, Any] | None:
    """The claims of ``token`` once it verifies (RS256) with a key of the JWKS at ``jwks_uri``; else None."""
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(jwks_uri)
    try:
        keys = KeySet.import_key_set(answer.json())
        kid = unverified_part(token, 0).get("kid")
        claims = json.loads(jws.deserialize_compact(token, keys.get_by_kid(kid), algorithms=["RS256"]).payload)
    except (JoseError, ValueError, TypeError, KeyError):
        return None
    return claims if isinstance(claims, dict) else None
