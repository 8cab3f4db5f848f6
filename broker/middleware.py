"""Security headers for every response; a pure ASGI middleware, cheap enough for the JWKS hot path."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Registration and launch pages are shown inside the LMS, so only they (and the demo tool that launches
# reach in `make run`) may be framed.
_FRAMABLE = re.compile(r"^(/t/[^/]+/lti/|/demo/tool$)")
_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
_ALWAYS_NO_FRAMING = [*_ALWAYS, (b"x-frame-options", b"DENY")]
_NO_FRAMING_CSP = (b"content-security-policy", b"frame-ancestors 'none'")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _ALWAYS if _FRAMABLE.match(scope["path"]) else _ALWAYS_NO_FRAMING

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), *extra]
                if extra is _ALWAYS_NO_FRAMING and not any(name == b"content-security-policy" for name, _ in headers):
                    headers.append(_NO_FRAMING_CSP)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
