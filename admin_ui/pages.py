"""Rendering console pages: the admin UI's Jinja2 environment (autoescaping everything), its static files
(addressed by content hash), and the headers every console page carries: a CSP with no inline script or style,
`frame-ancestors 'none'`, and no caching.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from broker import log_context
from broker.refusals import FALLBACK_NEXT_STEP, Refusal

STATIC_DIRECTORY = Path(__file__).parent / "static"

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@cache
def _digest(name: str) -> bytes:
    return hashlib.sha256((STATIC_DIRECTORY / name).read_bytes()).digest()


def static_url(name: str) -> str:
    """The file's URL with its content hash, so a browser never keeps a stale copy after an upgrade."""
    return f"/static/{name}?v={_digest(name).hex()[:12]}"


def integrity(name: str) -> str:
    """Subresource integrity of a static file; for scripts it is also their CSP hash."""
    return "sha256-" + base64.b64encode(_digest(name)).decode()


@cache
def content_security_policy(
    scripts: tuple[str, ...] = ("console.js",),
    *,
    frame_ancestors: str = "'none'",
    frame_src: str = "'none'",
    form_action: str = "'self'",
) -> str:
    # Scripts run only if their hash is listed here (and in their tag's `integrity`), so no injected or changed
    # script can run; styles come from our own static files only. Logos are shown from their https URLs.
    hashes = " ".join(f"'{integrity(name)}'" for name in scripts) or "'none'"
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'self'; img-src 'self' https: data:; "
        f"frame-src {frame_src}; form-action {form_action}; base-uri 'none'; frame-ancestors {frame_ancestors}"
    )


_environment.globals.update(static_url=static_url, integrity=integrity)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    scripts: tuple[str, ...] = ("console.js",),
    frame_ancestors: str = "'none'",
    frame_src: str = "'none'",
    form_action: str = "'self'",
) -> HTMLResponse:
    """The page with the consoles' headers; pages of the demo LMS relax framing and form targets."""
    user = request.scope.get("user")
    values = {
        "request": request,
        "account": getattr(user, "account", None),
        # Only pages with a form call it; asgi-csrf then sets its cookie.
        "csrf_token": request.scope.get("csrftoken", lambda: ""),
        **(context or {}),
    }
    response = HTMLResponse(_environment.get_template(template).render(values), status_code=status_code)
    response.headers["Content-Security-Policy"] = content_security_policy(
        scripts, frame_ancestors=frame_ancestors, frame_src=frame_src, form_action=form_action
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def refusal_page(request: Request, refusal: Refusal) -> HTMLResponse:
    """A refused console request, in the consoles' layout: what went wrong, which field, what to do."""
    context = {
        "title": refusal.title,
        "detail": refusal.detail,
        "next_step": refusal.next_step or FALLBACK_NEXT_STEP,
        "field": refusal.field,
        "request_id": log_context.request_id(request),
    }
    response = render(request, "refusal.html", context, status_code=refusal.status_code)
    response.headers.update(refusal.headers)
    return response
