"""What keeps the consoles safe, wired as Starlette middleware on the admin UI's routes only: a cap on form
bodies, CSRF protection of every state-changing request (asgi-csrf), and the console session (a cookie holding a
random token, looked up in the database by Starlette's authentication middleware).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from asgi_csrf import asgi_csrf_decorator
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin_ui.pages import refusal_page
from broker.refusals import Refusal
from broker.services import services
from broker.settings import Settings, settings_of
from tenants.accounts.models import Account
from tenants.accounts.sessions import SESSION_LIFETIME

CSRF_FIELD = "csrftoken"
# The largest form the consoles take (the tool configuration editor's is the biggest by far).
MAX_FORM_BYTES = 256 * 1024


def on_loopback(settings: Settings) -> bool:
    host = urlsplit(settings.base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cookie_name(settings: Settings, name: str) -> str:
    # `__Host-` cookies are Secure, host-only and path `/`: no other host (a tenant's subdomain) can set them.
    return name if on_loopback(settings) else f"__Host-{name}"


def session_cookie(settings: Settings) -> str:
    return cookie_name(settings, "broker_session")


def start_session(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        session_cookie(settings),
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        secure=not on_loopback(settings),
        httponly=True,
        samesite="lax",
    )


def end_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        session_cookie(settings), path="/", secure=not on_loopback(settings), httponly=True, samesite="lax"
    )


class ConsoleUser(BaseUser):
    def __init__(self, account: Account) -> None:
        self.account = account

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.account.email

    @property
    def identity(self) -> str:
        return self.account.id


class ConsoleSessionBackend(AuthenticationBackend):
    """Signed in when the session cookie names a live session; scopes `authenticated` and the account's kind."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        token = conn.cookies.get(session_cookie(settings_of(conn)))
        if not token:
            return None
        account = await services(conn).accounts.sessions.account(token)
        if account is None:
            return None
        return AuthCredentials(["authenticated", account.kind]), ConsoleUser(account)


class BodyLimitMiddleware:
    """Answers 413 to a form larger than MAX_FORM_BYTES before anything reads it whole."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_FORM_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD"}:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or {}).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await _too_large(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(scope, receive, send)


class _TooLarge(Exception):
    pass


class FormTooLarge(Refusal):
    status_code = 413
    title = "This form is too large"
    next_step = "Go back and shorten what you entered."


class FormForged(Refusal):
    status_code = 403
    title = "This form has expired or came from another site"
    next_step = "Go back, reload the page, and submit the form again."


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    refusal = FormTooLarge(f"The consoles take forms of at most {MAX_FORM_BYTES // 1024} KiB.")
    await refusal_page(Request(scope), refusal)(scope, receive, send)


class _EveryPath:
    """asgi-csrf lets a request without cookies through unless its path is 'always protected'; here every path
    is, so that a forged sign-in (which carries no cookies) is refused too."""

    def __contains__(self, path: object) -> bool:
        return True


async def _csrf_failed(scope: Scope, send: Send, message_id: Any) -> None:
    response = refusal_page(
        Request(scope), FormForged("The form's security token is missing or does not match this browser's.")
    )

    async def no_body() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    await response(scope, no_body, send)


def csrf_secret(settings: Settings) -> str:
    return hmac.new(settings.secret_key.encode(), b"admin-ui csrf", hashlib.sha256).hexdigest()


def console_middleware(settings: Settings) -> list[Middleware]:
    """The middleware of every admin UI route, outermost first."""
    csrf: Callable[[ASGIApp], ASGIApp] = asgi_csrf_decorator(
        cookie_name=cookie_name(settings, "broker_csrf"),
        form_input=CSRF_FIELD,
        signing_secret=csrf_secret(settings),
        always_protect=_EveryPath(),
        cookie_secure=not on_loopback(settings),
        cookie_samesite="Lax",
        send_csrf_failed=_csrf_failed,
    )
    return [
        Middleware(BodyLimitMiddleware),
        Middleware(_Wrapped, wrap=csrf),
        Middleware(AuthenticationMiddleware, backend=ConsoleSessionBackend()),
    ]


class _Wrapped:
    """Starlette middleware from an ASGI decorator (asgi-csrf is one)."""

    def __init__(self, app: ASGIApp, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        self.app = wrap(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
