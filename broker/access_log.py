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
    # The line's text is made here once, and the record handed to the handlers as `logger.info` would (the same
    # record and checks) without its walk up the stack for the caller.
    record = logger.makeRecord(
        logger.name, logging.INFO, _CODE.co_filename, _CODE.co_firstlineno,
        f"{method} {path} {status:d} in {duration_ms:.1f} ms from {address or '-'}", (), None, _CODE.co_name,
        fields(method=method, path=path, status=status, duration_ms=duration_ms, client=address),
    )  # fmt: skip
    logger.handle(record)


# Where the access records say they were written: `log_request`, as `logger.info` would have found by walking
# the stack (its first line rather than the call's).
_CODE = log_request.__code__


def unhandled_error(method: str, path: str) -> None:
    """Logs the error being handled (with its traceback), in the request's context."""
    logger.exception("unhandled error on %s %s", method, path)
