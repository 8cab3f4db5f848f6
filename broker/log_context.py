"""What a log line is about: the request (its id), the tenant and the attempt, or the background step, held in
a context variable so every line written while handling them carries it, whichever module writes the line.

A request's context is made by `broker.access_log`; code that learns more on the way (the registration attempt
it opened, the tenant an API key belongs to) adds it with `bind`. Background work opens its own with `about`.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

REQUEST_ID_HEADER = b"x-request-id"
# An id a proxy in front already gave the request is kept, so its lines and ours share it; anything longer or
# with other characters is replaced, since the id is written into pages, headers and log lines.
_ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
# New ids need to be unique, not secret (they are shown to whoever made the request): a generator seeded from the
# OS, read without a system call per request (`secrets` costs about 1.4 microseconds more an id), and seeded
# again in a forked child so that two workers never share a sequence.
_new_ids = random.Random()  # noqa: S311 - request ids are not secrets
os.register_at_fork(after_in_child=_new_ids.seed)
# Where a request's id is kept in its ASGI scope, for the pages rendered after the middleware has returned (the
# server error page). The id, not the context: the context refers to the scope, and a cycle per request would
# leave every request's scope to the garbage collector.
_SCOPE_KEY = "broker.request_id"
# A tenant's slug as a request names it: longer text is no slug and is not repeated in the logs.
_MAX_SLUG = 64


@dataclass
class LogContext:
    """The fields a line gets from its context. `scope` is the request's, read for the tenant slug in its path
    only when a line is written (the router sets it after this context was made)."""

    request_id: str | None = None
    tenant: str | None = None
    attempt_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    scope: Scope | None = field(default=None, repr=False)

    def tenant_slug(self) -> str | None:
        if self.tenant is not None or self.scope is None:
            return self.tenant
        slug = self.scope.get("path_params", {}).get("slug")
        return slug if isinstance(slug, str) and len(slug) <= _MAX_SLUG else None


_current: ContextVar[LogContext | None] = ContextVar("broker_log_context", default=None)


def current() -> LogContext | None:
    return _current.get()


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The request's id: the one it came with when that is short and plain, else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            given = value.decode("latin-1")
            if _ACCEPTED_REQUEST_ID.fullmatch(given):
                return given
            break
    return _new_ids.randbytes(8).hex()


def start_request(scope: Scope) -> str:
    """Opens a new request's context, current until `end_request`; returns the request's id, which is also kept
    in its scope for its pages."""
    identifier = request_id_from(scope.get("headers", []))
    context = LogContext(request_id=identifier, scope=scope)
    scope[_SCOPE_KEY] = identifier
    _current.set(context)
    return identifier


def end_request() -> None:
    _current.set(None)


def request_id(connection: HTTPConnection) -> str | None:
    """The id of the request (shown on its error page, sent back in X-Request-Id), if it went through the
    broker's middleware."""
    identifier: str | None = connection.scope.get(_SCOPE_KEY)
    return identifier


def bind(*, tenant: str | None = None, attempt_id: str | None = None) -> None:
    """Adds what was learnt to the current context (a request's, or a background step's)."""
    context = _current.get()
    if context is None:
        return
    if tenant is not None:
        context.tenant = tenant
    if attempt_id is not None:
        context.attempt_id = attempt_id


@contextmanager
def about(*, tenant: str | None = None, attempt_id: str | None = None, **fields: Any) -> Iterator[LogContext]:
    """A context of its own for a piece of background work (a delivery, a step of the loop), inside whatever
    context was current, which comes back after it."""
    outer = _current.get()
    context = LogContext(
        request_id=outer.request_id if outer else None,
        tenant=tenant if tenant is not None else (outer.tenant_slug() if outer else None),
        attempt_id=attempt_id if attempt_id is not None else (outer.attempt_id if outer else None),
        fields={**(outer.fields if outer else {}), **fields},
    )
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
