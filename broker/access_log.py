"""The one line each request leaves in the log, and its request id: a pure ASGI middleware, cheap enough for the
JWKS route.

It opens the request's log context (`broker.log_context`), so every line written while the request is handled
carries the request id, and the tenant's slug and attempt id once they are known; it sends the id back in
`X-Request-Id` (error pages and problem JSON show it too); and when the response is done it writes the request's
line: method, path without its query (platforms put registration tokens there), status, duration, client
address. An unhandled error is logged here too, in the request's context, before the server error page.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker import log_context
from broker.logs import fields

logger = logging.getLogger("broker.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        request_id = (log_context.REQUEST_ID_HEADER, log_context.start_request(scope).encode())
        status = 500  # unless a response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new message: the app's own may be reused across requests (the JWKS route's is).
                message = {**message, "headers": [*message.get("headers", ()), request_id]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error on %s %s", method, path)
            raise
        finally:
            _log_request(scope, method, path, status, time.perf_counter() - started)
            log_context.end_request()


def _log_request(scope: Scope, method: str, path: str, status: int, seconds: float) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    address = client[0] if client else None
    duration_ms = round(seconds * 1000, 1)
    logger.info(
        "%s %s %d in %.1f ms from %s", method, path, status, duration_ms, address or "-",
        extra=fields(method=method, path=path, status=status, duration_ms=duration_ms, client=address),
    )  # fmt: skip
