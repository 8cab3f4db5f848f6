"""Routes of LTI 1.3 launches: thin, they read the request, call the launch service and answer.

A refusal is always a 4xx page for the person, one log line for the operator, and never a token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from broker import metrics
from broker.autopost import content_security_policy
from broker.forms import form_fields
from broker.host_routing import request_site
from broker.inline_scripts import STORAGE_GET, STORAGE_PUT
from broker.launch.errors import LaunchRefused
from broker.launch.login_origin import LoginSource
from broker.launch.service import Leaving, StorageCheck
from broker.launch.state_binding import (
    MARKER_COOKIE,
    MARKER_COOKIE_MAX_AGE,
    STATE_COOKIE_MAX_AGE,
    set_cookie_header,
)
from broker.limits.public import PublicRequest, TooManyRequests, client_address
from broker.pages import content_security_policy as page_policy
from broker.pages import frame_ancestors, render
from broker.refusals import refusal_page
from broker.services import Services, services
from tenants.hosts import LAUNCH_PATH, LOGIN_PATH, TenantSite

logger = logging.getLogger("broker.launch")
# The headers a login's source and a launch's storage proof are read from (login_origin.py, client_storage.py).
_SOURCE_HEADERS = frozenset((b"origin", b"referer", b"sec-fetch-dest"))
_PROOF_HEADERS = frozenset((b"origin", b"sec-fetch-site"))
# The counts of the two answers a launch's post gives, their series looked up once (a lookup by label costs a few
# µs).
_LAUNCHED = metrics.series_inc(metrics.LAUNCHES.labels("launched"))
_STORAGE_CHECKED = metrics.series_inc(metrics.LAUNCHES.labels("storage_check"))


async def login(request: Request) -> Response:
    site = request_site(request)
    running = services(request)  # once: each ask walks from the request to the app's state (three calls)
    limits = _limits(request, running)
    params = request.query_params if request.method == "GET" else await form_fields(request)
    try:
        source = LoginSource.of(_headers(request, _SOURCE_HEADERS))
        redirect = await running.launches.login(site, params, source, limits.count)
    except (LaunchRefused, TooManyRequests) as refusal:
        return await _refused(request, "login", limits, refusal)
    response: Response
    if redirect.leaving is not None:
        response = _leaving_page(request, redirect.location, redirect.leaving)
    elif redirect.storage_page is None:
        response = RedirectResponse(redirect.location, status_code=302, headers={"Cache-Control": "no-store"})
    else:
        response = _storage_page(request, redirect.storage_page, STORAGE_PUT.csp_hash)
    _set_cookie(response, site, redirect.state_cookie, STATE_COOKIE_MAX_AGE)
    _set_cookie(response, site, MARKER_COOKIE, MARKER_COOKIE_MAX_AGE)
    return response


async def launch(request: Request) -> Response:
    site = request_site(request)
    running = services(request)  # once: each ask walks from the request to the app's state (three calls)
    limits = _limits(request, running)
    form = await form_fields(request)
    try:
        headers = _headers(request, _PROOF_HEADERS)
        relay = await running.launches.launch(site, form, request.cookies, headers, limits.count)
    except (LaunchRefused, TooManyRequests) as refusal:
        return await _refused(request, "launch", limits, refusal)
    if isinstance(relay, StorageCheck):
        _STORAGE_CHECKED(1)
        return _storage_page(request, relay.html, STORAGE_GET.csp_hash)
    _LAUNCHED(1)
    response = HTMLResponse(
        relay.html,
        headers={
            "Content-Security-Policy": content_security_policy(
                relay.tool_url, frame_ancestors=frame_ancestors(request)
            ),
            "Cache-Control": "no-store",
        },
    )
    _set_cookie(response, site, relay.state_cookie, 0)  # the state is spent; so is its cookie
    return response


def _leaving_page(request: Request, location: str, leaving: Leaving) -> Response:
    """The page before a login redirect its LMS did not send: where it leads, and a link to go on."""
    context = {
        "title": f"Continue to {leaving.host}?",
        "host": leaving.host,
        "issuer": leaving.issuer,
        "tool_name": leaving.tool_name,
        "location": location,
    }
    return render(request, "login_leaving.html", context, framable=True)


def _storage_page(request: Request, html: str, script: str) -> Response:
    """A page of the postMessage storage binding: framable, its one constant script, forms only to us."""
    policy = page_policy(frame_ancestors=frame_ancestors(request), script_hashes=[script])
    return HTMLResponse(html, headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"})


def _limits(request: Request, running: Services) -> PublicRequest:
    """The request's limits, counted in the write that stores or spends its state (one transaction, not two)."""
    return running.public_limits.request(request.path_params["slug"], client_address(request))


def _headers(request: Request, names: frozenset[bytes]) -> dict[str, str]:
    """The request's headers of `names` (lower-case, as ASGI gives them), the first of each as Starlette's `Headers`
    reads it: one walk over them, where each `headers.get` walks them again and raises a KeyError when absent."""
    found: dict[str, str] = {}
    for name, value in request.scope["headers"]:
        if name in names:
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def _set_cookie(response: Response, site: TenantSite, name: str, max_age: int) -> None:
    # Added to the raw headers as `response.headers.append` adds it (latin-1), without making that view of them.
    header = set_cookie_header(name, site.path_prefix, max_age)
    response.raw_headers.append((b"set-cookie", header.encode("latin-1")))


async def _refused(
    request: Request, step: str, limits: PublicRequest, refusal: LaunchRefused | TooManyRequests
) -> Response:
    try:
        # A request refused before its write counts against the limits all the same.
        await limits.count()
    except TooManyRequests as over:
        return refusal_page(request, over, framable=True)
    if isinstance(refusal, TooManyRequests):
        return refusal_page(request, refusal, framable=True)
    if step == "launch":
        metrics.LAUNCHES.labels(type(refusal).__name__).inc()
    logger.warning(
        "launch refused at %s for tool %r: %s (%s): %r",
        step, request.path_params["slug"], type(refusal).__name__, refusal.field or "-", refusal.detail,
    )
    return refusal_page(request, refusal, framable=True)


class _Endpoint:
    """A route's endpoint as a plain ASGI app. Starlette wraps a function in a layer of its own that hands its
    errors to the app's exception handlers, as the exception middleware just outside it does anyway (six Python
    calls a request)."""

    def __init__(self, page: Callable[[Request], Awaitable[Response]]) -> None:
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.page(Request(scope, receive, send))
        await response(scope, receive, send)


# A tenant's public routes: under /t/{slug} on the base host, at the root of the tenant's own host.
routes = [
    Route(LOGIN_PATH, _Endpoint(login), methods=["GET", "POST"], name="login"),
    Route(LAUNCH_PATH, _Endpoint(launch), methods=["POST"], name="launch"),
]
