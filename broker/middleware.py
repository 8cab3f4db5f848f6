"""Security headers for every response; a pure ASGI middleware, cheap enough for the JWKS hot path."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Registration and launch pages are shown inside the LMS, so only they (and, in `make run`, the demo tool that
# launches reach and the demo LMS's pages shown in its own frame) may be framed.
_FRAMABLE = re.compile(r"^(/t/[^/]+/lti/|/demo/tool$|/demo/lms/)")
# Public key sets are fetched by platforms' servers on every launch and never shown as a page, so framing and
# referrer rules do not apply to them; each header costs the server about 2 microseconds to write.
_KEY_SET_SUFFIX = "/.well-known/jwks.json"
_CSP = b"content-security-policy"
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_FRAMABLE_HEADERS = (_NOSNIFF, (b"referrer-policy", b"no-referrer"))
_NOT_FRAMABLE_HEADERS = (*_FRAMABLE_HEADERS, (b"x-frame-options", b"DENY"))
# A response with a policy of its own keeps it (pages set theirs with frame-ancestors); others get this one.
_NOT_FRAMABLE_HEADERS_WITH_CSP = (*_NOT_FRAMABLE_HEADERS, (_CSP, b"frame-ancestors 'none'"))


def security_headers(path: str, own: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A response's headers (`own`) with the security headers for `path` added."""
    if path.endswith(_KEY_SET_SUFFIX):
        return [*own, _NOSNIFF]
    if _FRAMABLE.match(path):
        return [*own, *_FRAMABLE_HEADERS]
    own = list(own)
    has_policy = any(name == _CSP for name, _ in own)
    return [*own, *(_NOT_FRAMABLE_HEADERS if has_policy else _NOT_FRAMABLE_HEADERS_WITH_CSP)]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new message: the app's own may be reused across requests (the JWKS route's is).
                message = {**message, "headers": security_headers(path, message.get("headers", ()))}
            await send(message)

        await self.app(scope, receive, send_with_headers)
