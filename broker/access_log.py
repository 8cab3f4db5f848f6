"""The one line each request leaves in the log: method, path without its query (platforms put registration
tokens there), status, duration, client address; with the request's context (`broker.log_context`), so it
carries the request id, and the tenant's slug and attempt id once they are known. Written by the broker's
middleware (`broker.middleware`) when the response is done.
"""

from __future__ import annotations

import logging

from starlette.types import Scope

from broker.logs import fields

logger = logging.getLogger("broker.access")


def log_request(scope: Scope, method: str, path: str, status: int, seconds: float) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    address = client[0] if client else None
    duration_ms = round(seconds * 1000, 1)
    logger.info(
        "%s %s %d in %.1f ms from %s", method, path, status, duration_ms, address or "-",
        extra=fields(method=method, path=path, status=status, duration_ms=duration_ms, client=address),
    )  # fmt: skip


def unhandled_error(method: str, path: str) -> None:
    """Logs the error being handled (with its traceback), in the request's context."""
    logger.exception("unhandled error on %s %s", method, path)
