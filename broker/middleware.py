"""The broker's one ASGI middleware: each HTTP request gets its id and log context (`broker.log_context`), each
response its security headers (`broker.security_headers`) and `X-Request-Id`, and each request leaves its one
access line (`broker.access_log`); an unhandled error is logged here too, in the request's context, before the
server error page.

One pure ASGI wrapper for all of it rather than one per concern: every layer is a coroutine frame that Python
resumes at each of the request's awaits (every database round trip of a launch), and each wrapper of `send`
copies the response's first message again. The key set route, the busiest, pays for it on every request.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker import access_log, log_context
from broker.security_headers import security_headers


class BrokerMiddleware:
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

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new message and list: the app's own may be reused across requests (the JWKS route's is).
                message = {**message, "headers": security_headers(path, message.get("headers", ()), request_id)}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            access_log.unhandled_error(method, path)
            raise
        finally:
            access_log.log_request(scope, method, path, status, time.perf_counter() - started)
            log_context.end_request()
