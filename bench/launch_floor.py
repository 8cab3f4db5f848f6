"""The floor for a launch: a bare Starlette app doing only what a launch cannot do without.

It answers the same two requests as the broker. The login form's POST gets a redirect to the platform's
authorization endpoint with a fresh `state` and `nonce`, kept in memory. The id_token's form_post has its
RS256 signature checked with the platform's key (given at start, so never fetched) and its `iss`, `aud`, `exp`
and `nonce` read; then a launch token is signed RS256 with a key of its own and the broker's own relay page,
captured from it in the same run, is rendered with Jinja2 around it. No database, no limits, no sealing and no
other check, so the broker's CPU per launch over this app's is what everything else costs.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bench.floor import raw_template

LOGIN_PATH = "/t/{slug}/lti/login"
LAUNCH_PATH = "/t/{slug}/lti/launch"
# Logins not yet finished are kept up to this many, the oldest dropped first, as a bounded store would.
PENDING = 10_000


def write_template(folder: Path, relay_page: str, launch_token: str) -> None:
    """The broker's relay page as a template, its launch token a variable."""
    (folder / "relay.html").write_text(raw_template(relay_page, {launch_token: "launch_token"}))


def create_app() -> Starlette:
    pages = Environment(loader=FileSystemLoader(os.environ["BENCH_FLOOR_PAGES"]), autoescape=select_autoescape())
    platform_key = RSAKey.import_key(json.loads(os.environ["BENCH_FLOOR_PLATFORM_KEY"]))
    authorization_url = os.environ["BENCH_FLOOR_AUTHORIZATION_URL"]
    verifying_key = platform_key.public_key
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = _b64_json({"alg": "RS256", "kid": "floor", "typ": "JWT"})
    pending: dict[str, str] = {}

    async def login(request: Request) -> Response:
        form = await request.form()
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        if len(pending) >= PENDING:
            del pending[next(iter(pending))]
        pending[state] = nonce
        query = urlencode({
            "scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
            "client_id": str(form["client_id"]), "redirect_uri": str(form["target_link_uri"]),
            "login_hint": str(form["login_hint"]), "lti_message_hint": str(form["lti_message_hint"]),
            "state": state, "nonce": nonce,
        })
        return RedirectResponse(f"{authorization_url}?{query}", status_code=302)

    async def launch(request: Request) -> Response:
        form = await request.form()
        nonce = pending.pop(str(form["state"]), None)
        signing_input, _, signature = str(form["id_token"]).rpartition(".")
        verifying_key.verify(_unb64(signature), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        claims = json.loads(_unb64(signing_input.split(".")[1]))
        if nonce is None or claims["nonce"] != nonce or claims["exp"] < time.time() or not claims["aud"]:
            return Response("refused", status_code=400)
        now = int(time.time())
        token_claims = {**claims, "iss": str(request.base_url), "aud": "tool", "iat": now, "exp": now + 60}
        payload = header + "." + _b64_json(token_claims)
        launch_token = payload + "." + _b64(signing_key.sign(payload.encode(), padding.PKCS1v15(), hashes.SHA256()))
        return HTMLResponse(pages.get_template("relay.html").render(launch_token=launch_token))

    return Starlette(routes=[Route(LOGIN_PATH, login, methods=["POST"]), Route(LAUNCH_PATH, launch, methods=["POST"])])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64_json(value: dict[str, object]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())
