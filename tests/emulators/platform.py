"""Base class of the LMS emulators: a real Starlette app that plays the platform side of LTI Dynamic
Registration (steps 1 to 3 of LTI-DR), records what it receives, and lets a test bend its answers.

What every platform shares lives here:

* the initiation parameters the LMS appends to the tool's registration URL (LTI-DR §3.3):
  ``openid_configuration`` always, ``registration_token`` only where the platform sends one;
* one-time registration tokens with a lifetime (1 h on every platform that has one), an
  emulator clock that tests can move forward, and single use;
* the configuration document (served as the subclass builds it, then ``config_patch`` applied);
* the request pipeline: record → delay → forced answer → platform checks → store → answer;
* test knobs (see ``PlatformEmulator``) and records (``requests``, ``registrations``).

Each subclass supplies its documents, its token shape and its own refusals (docs/platforms.md).

LTI 1.3 launches: ``launch_routes()`` adds the platform's launch side (``tests/emulators/launch.py``): its
JWKS, OIDC authorization endpoint, token endpoint and Deep Linking return, on the advertised URLs.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.emulators.launch import LaunchSide
from tests.emulators.rules import PLATFORM_CONFIG_KEY
from tests.emulators.server import LOOPBACK_HOST, base_url_of, bind_loopback, serve_on


class _Remove(enum.Enum):
    REMOVE = "remove"


REMOVE: Final = _Remove.REMOVE
"""Value for ``config_patch`` / ``platform_config_patch``: drop that key from the served document."""

RawAnswer = tuple[int, bytes, str]
"""A forced answer: (status, body bytes, content type)."""

TokenState = Literal["valid", "unknown", "expired", "used"]

TOKEN_LIFETIME_S: Final = 3600.0
"""Registration token life on Moodle, Canvas, Sakai and Brightspace: one hour."""


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the emulator received it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    host: str

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass
class RegistrationToken:
    """A registration token the platform issued. ``expires_at`` None means it never expires."""

    value: str
    issued_at: float
    expires_at: float | None
    claims: dict[str, Any] = field(default_factory=dict)
    used: bool = False


def text_answer(status: int, body: str) -> Response:
    return Response(body, status_code=status, media_type="text/plain")


def json_answer(status: int, body: Any) -> Response:
    return JSONResponse(body, status_code=status)


def empty_answer(status: int) -> Response:
    return Response(b"", status_code=status)


def raw_answer(raw: RawAnswer) -> Response:
    status, body, content_type = raw
    return Response(body, status_code=status, headers={"content-type": content_type})


def alternate_loopback(base_url: str) -> str:
    """The same server under its other loopback name (127.0.0.1 <-> localhost), for platforms whose
    endpoints live on a host other than the issuer's (Canvas's registration endpoint is on the account host)."""
    parts = urlsplit(base_url)
    other = "localhost" if parts.hostname == LOOPBACK_HOST else LOOPBACK_HOST
    return urlunsplit((parts.scheme, f"{other}:{parts.port}", parts.path, "", ""))


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class RecordingMiddleware:
    """Pure ASGI wrapper that appends every HTTP request (body included) to a list, then replays the
    body to the app, so even requests the app refuses or does not route are recorded."""

    def __init__(self, app: ASGIApp, log: list[RecordedRequest]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        self.log.append(_record(scope, body))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return b"".join(chunks)


def _record(scope: Scope, body: bytes) -> RecordedRequest:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
    return RecordedRequest(
        scope["method"], scope["path"], query, headers, body, parsed, headers.get("host", "")
    )


class PlatformEmulator(LaunchSide):
    """Shared state and behaviour of every LMS emulator.

    Construct with the base URL the app will be served on (``http://127.0.0.1:<port>``), or use
    ``Emulator.running(**knobs)`` which binds a port, builds the emulator and serves it.

    Test knobs (plain attributes, settable at any time, also as ``running(**knobs)``):

    * ``config_patch``: top-level keys to add/replace in the served configuration; the value ``REMOVE``
      drops a key;
    * ``platform_config_patch``: the same for the ``lti-platform-configuration`` object;
    * ``config_response``: ``(status, body, content_type)`` served instead of the document;
    * ``config_delay`` / ``registration_delay``: seconds to wait before answering;
    * ``jwks_query``: query parameters the served ``jwks_uri`` carries and its key set endpoint requires;
    * ``registration_access_token``: added to every registration answer (RFC 7592) when set;
    * ``registration_response``: ``(status, body, content_type)`` answered to every registration POST
      (no token is consumed and nothing is stored);
    * ``token_ttl``: lifetime of tokens issued from now on; ``advance_clock(s)`` moves the emulator clock.

    Records: ``requests`` (every HTTP request), ``registrations`` (accepted registrations as stored and
    answered), ``tokens`` (issued tokens by value).
    """

    name: ClassVar[str]
    product_family_code: ClassVar[str]
    configuration_path: ClassVar[str]
    registration_path: ClassVar[str]
    platform_config_key: ClassVar[str] = PLATFORM_CONFIG_KEY
    sends_registration_token: bool = True
    registration_status: int = 200
    _configuration_route: Route
    _registration_route: Route

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.alt_base_url = alternate_loopback(self.base_url)
        self.requests: list[RecordedRequest] = []
        self.registrations: list[dict[str, Any]] = []
        self.tokens: dict[str, RegistrationToken] = {}
        self.config_patch: dict[str, Any] = {}
        self.platform_config_patch: dict[str, Any] = {}
        self.config_response: RawAnswer | None = None
        self.config_delay = 0.0
        self.registration_response: RawAnswer | None = None
        # Query parameters the key set URL carries (an API key, say): the JWKS endpoint answers 403 without them.
        self.jwks_query: dict[str, str] = {}
        # RFC 7592's management credential, added to every registration answer when set.
        self.registration_access_token: str | None = None
        self.registration_delay = 0.0
        self.token_ttl: float | None = TOKEN_LIFETIME_S
        self.clock_offset = 0.0
        self._lock = threading.Lock()
        self.init_launch_side()
        self.app: ASGIApp = RecordingMiddleware(Starlette(routes=self.build_routes()), self.requests)

    @classmethod
    @contextmanager
    def running(cls, **knobs: Any) -> Iterator[Self]:
        """Bind a loopback port, build the emulator for it, apply ``knobs`` and serve it."""
        sock = bind_loopback()
        emulator = cls(base_url_of(sock))
        emulator.set_knobs(**knobs)
        with serve_on(sock, emulator.app, lifespan="off"):
            yield emulator

    def set_knobs(self, **knobs: Any) -> None:
        for name, value in knobs.items():
            if name.startswith("_") or not hasattr(self, name):
                raise TypeError(f"{type(self).__name__} has no knob {name!r}")
            setattr(self, name, value)

    # ----------------------------------------------------------------- identity and documents
    @property
    def issuer(self) -> str:
        return self.base_url

    def configuration_url(self, token: RegistrationToken | None = None) -> str:
        """The ``openid_configuration`` URL handed to the tool (may embed the token)."""
        return self.base_url + self.configuration_path

    def registration_endpoint(self, token: RegistrationToken | None = None) -> str:
        return self.base_url + self.registration_path

    def base_configuration(self, token: RegistrationToken | None, request: Request | None) -> dict[str, Any]:
        """The platform's configuration document before test patches. ``token`` is the initiation the
        configuration URL belongs to (if the platform ties them), ``request`` the GET being answered."""
        raise NotImplementedError

    def openid_configuration(
        self, token: RegistrationToken | None = None, request: Request | None = None
    ) -> dict[str, Any]:
        """The configuration document as served (``config_patch``/``platform_config_patch`` applied)."""
        document = copy.deepcopy(self.base_configuration(token, request))
        if self.jwks_query and isinstance(document.get("jwks_uri"), str):
            document["jwks_uri"] += "?" + urlencode(self.jwks_query)
        _apply_patch(document, self.config_patch)
        platform_config = document.get(self.platform_config_key)
        if self.platform_config_patch and isinstance(platform_config, dict):
            _apply_patch(platform_config, self.platform_config_patch)
        return document

    # ----------------------------------------------------------------- initiation (step 1)
    def registration_initiation_params(self) -> dict[str, str]:
        """What the LMS appends to the tool's registration URL; a fresh one-time token per call."""
        return self.initiation_params_for(self.issue_token())

    def initiation_params_for(self, token: RegistrationToken) -> dict[str, str]:
        params = {"openid_configuration": self.configuration_url(token)}
        if self.sends_registration_token:
            params["registration_token"] = token.value
        return params

    def initiation_url(self, tool_registration_url: str) -> str:
        """The tool's URL with fresh initiation parameters appended, its own query kept."""
        token = self.issue_token(self.claims_for_tool_url(tool_registration_url))
        parts = urlsplit(tool_registration_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query += list(self.initiation_params_for(token).items())
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))

    def claims_for_tool_url(self, tool_registration_url: str) -> dict[str, Any]:
        """Token claims that depend on the tool's registration URL (Canvas records it)."""
        return {}

    # ----------------------------------------------------------------- tokens
    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (token expiry is judged by it)."""
        self.clock_offset += seconds

    def token_claims(self) -> dict[str, Any]:
        """Platform data carried by a new token (overridden where the token has content)."""
        return {}

    def new_token_value(self, claims: dict[str, Any], issued_at: float) -> str:
        """The token string; an opaque random string unless the platform has its own shape."""
        return secrets.token_urlsafe(32)

    def issue_token(self, claims: dict[str, Any] | None = None) -> RegistrationToken:
        issued_at = self.now()
        claims = {**self.token_claims(), **(claims or {})}
        expires_at = None if self.token_ttl is None else issued_at + self.token_ttl
        token = RegistrationToken(self.new_token_value(claims, issued_at), issued_at, expires_at, claims)
        with self._lock:
            self.tokens[token.value] = token
        return token

    def find_token(self, value: str | None) -> RegistrationToken | None:
        with self._lock:
            return self.tokens.get(value) if value else None

    def token_state(self, token: RegistrationToken | None) -> TokenState:
        if token is None:
            return "unknown"
        if token.used:
            return "used"
        if token.expires_at is not None and self.now() >= token.expires_at:
            return "expired"
        return "valid"

    def consume_token(self, token: RegistrationToken) -> None:
        with self._lock:
            token.used = True

    # ----------------------------------------------------------------- routes
    def build_routes(self) -> list[BaseRoute]:
        return [*self.registration_routes(), *self.launch_routes()]

    def registration_routes(self) -> list[BaseRoute]:
        self._configuration_route = Route(
            self.configuration_path, self._configuration_endpoint, methods=["GET"]
        )
        self._registration_route = Route(
            self.registration_path, self._registration_endpoint, methods=["POST"]
        )
        return [self._configuration_route, self._registration_route]

    def launch_routes(self) -> list[BaseRoute]:
        """The LTI 1.3 launch side (OIDC authorization endpoint, JWKS, token endpoint, Deep Linking
        return), on the URLs the configuration document advertises; see ``tests/emulators/launch.py``."""
        return self.launch_side_routes()

    # ----------------------------------------------------------------- hooks for subclasses
    def refuse_request(self, request: Request) -> Response | None:
        """A refusal that applies to every request before anything else (e.g. Canvas User-Agent)."""
        return None

    def check_configuration_request(self, request: Request) -> RegistrationToken | Response | None:
        """Refuse the configuration GET (a Response) or return the token it belongs to, if any."""
        return None

    def check_registration_request(self, request: Request) -> RegistrationToken | Response | None:
        """Refuse the registration POST on its headers/URL, or return the token it presents."""
        return None

    def parse_registration(self, request: Request, body: bytes) -> dict[str, Any] | Response:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return json_answer(
                400, {"error": "invalid_client_metadata", "error_description": "not a JSON object"}
            )
        return payload

    async def validate_registration(
        self, payload: dict[str, Any], token: RegistrationToken | None
    ) -> Response | None:
        """The platform's own validation; a Response refuses the request."""
        return None

    def accept_registration(self, payload: dict[str, Any], token: RegistrationToken | None) -> dict[str, Any]:
        """Store the registration; return the body of the answer (the registration as stored)."""
        raise NotImplementedError

    def registration_answer(self, stored: dict[str, Any]) -> Response:
        extra = {"registration_access_token": self.registration_access_token} if self.registration_access_token else {}
        return json_answer(self.registration_status, {**stored, **extra})

    # ----------------------------------------------------------------- pipeline
    async def _configuration_endpoint(self, request: Request) -> Response:
        if self.config_delay:
            await asyncio.sleep(self.config_delay)
        refusal = self.refuse_request(request)
        if refusal is not None:
            return refusal
        if self.config_response is not None:
            return raw_answer(self.config_response)
        checked = self.check_configuration_request(request)
        if isinstance(checked, Response):
            return checked
        return json_answer(200, self.openid_configuration(checked, request))

    async def _registration_endpoint(self, request: Request) -> Response:
        if self.registration_delay:
            await asyncio.sleep(self.registration_delay)
        refusal = self.refuse_request(request)
        if refusal is not None:
            return refusal
        if self.registration_response is not None:
            return raw_answer(self.registration_response)
        return await self.handle_registration(request)

    async def handle_registration(self, request: Request) -> Response:
        """The platform's registration pipeline (after the delay and forced-answer knobs): headers,
        body, validation, storage, answer. Sakai replaces it to keep its own order of checks."""
        token = self.check_registration_request(request)
        if isinstance(token, Response):
            return token
        payload = self.parse_registration(request, await request.body())
        if isinstance(payload, Response):
            return payload
        refusal = await self.validate_registration(payload, token)
        if refusal is not None:
            return refusal
        stored = self.accept_registration(payload, token)
        if token is not None:
            self.consume_token(token)
        self.registrations.append(stored)
        return self.registration_answer(stored)

    # ----------------------------------------------------------------- convenience for tests
    def requests_to(self, route: Route, method: str) -> list[RecordedRequest]:
        """Recorded requests whose path matches ``route`` (path parameters included)."""
        return [r for r in self.requests if r.method == method and route.path_regex.match(r.path)]

    @property
    def configuration_requests(self) -> list[RecordedRequest]:
        return self.requests_to(self._configuration_route, "GET")

    @property
    def registration_requests(self) -> list[RecordedRequest]:
        return self.requests_to(self._registration_route, "POST")


def _apply_patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is REMOVE:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)
