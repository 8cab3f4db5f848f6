"""Refusals: the one exception type for a request the broker will not carry out, and its two renderings —
an HTML page for a person, problem details JSON (RFC 9457) for an API client.

A refusal names what was wrong (`detail`, and `field` when one field is at fault) and what to do about it
(`next_step`); `reference` lets support find the records, and the request id (`broker.log_context`) the
request's log lines. Subclasses set the class-level defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse

from broker import log_context
from broker.pages import render

PROBLEM_MEDIA_TYPE = "application/problem+json"
# A page for a person always says what to do; a refusal that names no next step gets this one.
FALLBACK_NEXT_STEP = "Go back and try again; if it keeps failing, contact the tool's vendor."


class Refusal(Exception):
    status_code: int = 400
    title: str = "The request could not be completed"
    next_step: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        reference: str | None = None,
        next_step: str | None = None,
        status_code: int | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.reference = reference
        self.headers = dict(headers or {})
        # Given values override the class defaults for this one refusal only.
        if next_step:
            self.next_step = next_step
        if status_code is not None:
            self.status_code = status_code
        if title is not None:
            self.title = title


def problem_body(refusal: Refusal, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": refusal.title,
        "status": refusal.status_code,
        "detail": refusal.detail,
    }
    for name in ("field", "next_step", "reference"):
        value = getattr(refusal, name)
        if value:
            body[name] = value
    if request_id:
        body["request_id"] = request_id
    return body


def problem_response(refusal: Refusal, request: HTTPConnection) -> JSONResponse:
    """The refusal as problem details JSON, for API clients."""
    return JSONResponse(
        problem_body(refusal, log_context.request_id(request)),
        status_code=refusal.status_code,
        headers=refusal.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def refusal_page(request: Request, refusal: Refusal, *, framable: bool = False) -> HTMLResponse:
    """The refusal as the error page, for people; `framable` where an LMS shows the page in a frame."""
    context = {
        "title": refusal.title,
        "detail": refusal.detail,
        "next_step": refusal.next_step or FALLBACK_NEXT_STEP,
        "field": refusal.field,
        "reference": refusal.reference,
        "request_id": log_context.request_id(request),
    }
    response = render(request, "error.html", context, status_code=refusal.status_code, framable=framable)
    response.headers.update(refusal.headers)
    return response


class FieldError(ValueError):
    """A document or an input broke a rule: `field` names where (a field, a claim, a parameter), `reason` the
    rule in plain words. Pure protocol functions raise it; the service that called them turns it into a
    `Refusal` that says what to do. Subclasses set `subject` so the message says what kind of thing `field` is.
    """

    subject: str | None = None

    def __init__(self, field: str, reason: str) -> None:
        where = f"{self.subject} {field!r}" if self.subject else field
        super().__init__(f"{where}: {reason}")
        self.field = field
        self.reason = reason
