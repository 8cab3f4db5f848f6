"""HTML pages for people: one Jinja2 environment (autoescaping everything) and the pages' security headers.
The error page every failure a person can hit ends on is rendered by `broker.refusals.refusal_page`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from broker.settings import settings_of

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    # The templates ship with the code: looking at each file's time on disk at every render (three files for a
    # launch's relay page) cost about a quarter of rendering it.
    auto_reload=False,
)

def content_security_policy(
    *, frame_ancestors: str, script_hashes: Iterable[str] = (), form_action: str = "'self'"
) -> str:
    scripts = " ".join(script_hashes) or "'none'"
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; script-src {scripts}; "
        f"form-action {form_action}; base-uri 'none'; frame-ancestors {frame_ancestors}"
    )


def render_document(template: str, context: dict[str, Any]) -> str:
    """A template rendered to a string, for a document that is not the answer to a page request (the relay
    form of a launch, the Deep Linking form a tool hands to the browser)."""
    return _environment.get_template(template).render(**context)


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    framable: bool = False,
    script_hashes: Iterable[str] = (),
    form_action: str = "'self'",
) -> HTMLResponse:
    html = _environment.get_template(template).render(request=request, **context)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Security-Policy"] = content_security_policy(
        frame_ancestors=frame_ancestors(request) if framable else "'none'",
        script_hashes=script_hashes,
        form_action=form_action,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def frame_ancestors(request: Request) -> str:
    """Any https LMS may frame registration and launch pages; plain http only in insecure (dev) mode."""
    return "https: http:" if settings_of(request).allow_insecure_platforms else "https:"

