"""A tenant's tool as a webhook receiver: a Starlette app on loopback that checks every delivery with the
`standardwebhooks` library, as a tool vendor would, and records it.

Its answers can be scripted (a status and body per request, then 204), and it can be made slow; a
delivery whose signature does not verify is answered 401 and kept apart in ``rejected``.

It is also the tool that launches reach: ``launch_url`` takes the broker's auto-posted ``launch_token``,
verifies it as a tool vendor would (RS256 with the tenant's JWKS, fetched from ``launch_issuer`` +
``/.well-known/jwks.json``; ``iss``, ``aud`` = ``launch_url``, ``exp``) and records its claims in ``launches``
(refusals, with the reason, in ``launch_refusals``). Deep-linked items launch at other URLs of its origin:
every POST path takes a launch, and ``launch_posts`` records where each one was posted.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.emulators.server import base_url_of, bind_loopback, serve_on

HOOK_PATH = "/hooks/lti"
LAUNCH_PATH = "/launch"


@dataclass(frozen=True)
class ReceivedWebhook:
    webhook_id: str
    timestamp: int
    signatures: tuple[str, ...]
    payload: dict[str, Any]


@dataclass
class ToolEmulator:
    base_url: str
    secret: str | None = None
    delay: float = 0.0
    answers: list[tuple[int, str]] = field(default_factory=list)
    received: list[ReceivedWebhook] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    launch_issuer: str | None = None
    launches: list[dict[str, Any]] = field(default_factory=list)
    launch_posts: list[str] = field(default_factory=list)
    launch_refusals: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.base_url + HOOK_PATH

    @property
    def launch_url(self) -> str:
        return self.base_url + LAUNCH_PATH

    @classmethod
    @contextmanager
    def running(cls, **knobs: Any) -> Iterator[ToolEmulator]:
        sock = bind_loopback()
        tool = cls(base_url_of(sock), **knobs)
        with serve_on(sock, tool.app(), lifespan="off"):
            yield tool

    def answer_next(self, *answers: tuple[int, str]) -> None:
        """Answer the next requests with these (status, body) pairs, in order; then 204 again."""
        with self._lock:
            self.answers.extend(answers)

    def ids(self) -> list[str]:
        with self._lock:
            return [hook.webhook_id for hook in self.received]

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(HOOK_PATH, self._receive, methods=["POST"]),
                Route("/{path:path}", self._launch, methods=["POST"]),
            ]
        )

    async def _launch(self, request: Request) -> Response:
        token = (await request.form()).get("launch_token")
        assert self.launch_issuer, "give the emulator the tenant's broker URL (launch_issuer)"
        try:
            claims = await verify_launch_token(str(token), issuer=self.launch_issuer, audience=self.launch_url)
        except ValueError as error:
            with self._lock:
                self.launch_refusals.append(str(error))
            return PlainTextResponse(f"launch refused: {error}", status_code=401)
        with self._lock:
            self.launches.append(claims)
            self.launch_posts.append(str(request.url))
        return HTMLResponse("<p>Launched.</p>")

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        if self.delay:
            await asyncio.sleep(self.delay)
        assert self.secret, "give the emulator the tenant's webhook secret"
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            with self._lock:
                self.rejected.append(request.headers.get("webhook-id", ""))
            return PlainTextResponse("bad signature", status_code=401)
        with self._lock:
            scripted = self.answers.pop(0) if self.answers else None
            if scripted is None or 200 <= scripted[0] < 300:
                self.received.append(
                    ReceivedWebhook(
                        webhook_id=request.headers["webhook-id"],
                        timestamp=int(request.headers["webhook-timestamp"]),
                        signatures=tuple(request.headers["webhook-signature"].split(" ")),
                        payload=payload,
                    )
                )
        if scripted is None:
            return Response(status_code=204)
        return PlainTextResponse(scripted[1], status_code=scripted[0])


async def verify_launch_token(token: str, *, issuer: str, audience: str) -> dict[str, Any]:
    """The claims of a broker launch_token, checked as DESIGN.md promises a tool; ValueError says why not."""
    async with httpx.AsyncClient(timeout=5) as client:
        keys = KeySet.import_key_set((await client.get(issuer + "/.well-known/jwks.json")).json())
    try:
        header = jws.extract_compact(token.encode()).headers()
        if header.get("alg") != "RS256" or not header.get("kid"):
            raise ValueError("the token must be RS256 with a kid")
        checked = jws.deserialize_compact(token, keys.get_by_kid(header["kid"]), algorithms=["RS256"])
    except (JoseError, TypeError) as error:
        raise ValueError(f"bad signature: {error}") from error
    claims: dict[str, Any] = json.loads(checked.payload)
    if claims.get("iss") != issuer or claims.get("aud") != audience:
        raise ValueError(f"iss/aud are {claims.get('iss')!r}/{claims.get('aud')!r}")
    now = time.time()
    if claims["exp"] < now or claims["iat"] > now + 5 or claims["exp"] - claims["iat"] > 300:
        raise ValueError("expired, or lives longer than 300 s")
    if not claims.get("jti") or not claims.get("registration_id") or not isinstance(claims.get("lti"), dict):
        raise ValueError("jti, registration_id and lti are required")
    return claims
