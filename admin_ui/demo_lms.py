"""Try it without an LMS (`make run` only, never in production): a small built-in LMS that frames the demo
tenant's registration URL the way Moodle does (with `openid_configuration` and `registration_token`),
answers the broker's registration request, and then launches the demo tool through the broker.

It plays the platform side with the broker's own code for tokens (`broker.launch.jose`) and keeps no state
of its own beyond a key and a registration token per process: what it registered, it reads back from the
broker's records. Its URLs are on the broker's own host, so the broker must be allowed to call plain-http
loopback platforms (`make run` sets BROKER_ALLOW_INSECURE_PLATFORMS=1).
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any
from urllib.parse import urlencode

from joserfc.jwk import RSAKey
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from admin_ui.pages import refusal_page, render
from broker import lti
from broker.demo_tool import DEMO_SLUG
from broker.launch import jose
from broker.refusals import Refusal
from broker.registration.models import Registration
from broker.registration.queries import list_registrations
from broker.services import services
from broker.settings import Settings, settings_of
from tenants.key_generator import generate_signing_key
from tenants.keys import public_jwk

PATH = "/demo/lms"
DEPLOYMENT_ID = "demo-deployment"
ID_TOKEN_LIFETIME = 300
TOOL_CONFIGURATION = lti.TOOL_CONFIGURATION_KEY


class DemoLmsRefusal(Refusal):
    title = "The demo LMS cannot do this"
    next_step = "Open /try again and start from the registration."


@cache
def _key() -> RSAKey:
    return generate_signing_key()


@cache
def _registration_token() -> str:
    return secrets.token_urlsafe(24)


def issuer(settings: Settings) -> str:
    return settings.base_url + PATH


def configuration(settings: Settings) -> dict[str, Any]:
    """The demo LMS's OpenID configuration: launches only (no services to ask for), generic LTI-DR."""
    base = issuer(settings)
    return {
        "issuer": base,
        "authorization_endpoint": base + "/authorize",
        "registration_endpoint": base + "/register",
        "jwks_uri": base + "/jwks",
        "token_endpoint": base + "/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
        lti.PLATFORM_CONFIGURATION_KEY: {
            "product_family_code": "lti-broker-demo",
            "version": "1.0",
            "messages_supported": [{"type": lti.RESOURCE_LINK_REQUEST}],
        },
    }


async def try_page(request: Request) -> Response:
    settings = settings_of(request)
    tenant = await services(request).tenants.get_by_slug(DEMO_SLUG)
    query = urlencode(
        {
            "openid_configuration": issuer(settings) + "/.well-known/openid-configuration",
            "registration_token": _registration_token(),
        }
    )
    context = {
        "title": "Try it without an LMS",
        "demo_ready": tenant is not None,
        "registration_url": settings.tenant_url(DEMO_SLUG, "/lti/register") + "?" + query,
        "insecure_allowed": settings.allow_insecure_platforms,
    }
    return render(request, "try.html", context, frame_src="'self'", scripts=("try_it.js",))


async def openid_configuration(request: Request) -> Response:
    return JSONResponse(configuration(settings_of(request)))


async def jwks(request: Request) -> Response:
    return JSONResponse({"keys": [public_jwk(_key())]})


async def register(request: Request) -> Response:
    """Answers the broker's registration request as an LMS does: a client_id and the deployment."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), _registration_token().encode()):
        return JSONResponse({"error": "invalid_token", "error_description": "unknown registration token"}, 401)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "invalid_client_metadata", "error_description": "not JSON"}, 400)
    tool = {**(body.get(TOOL_CONFIGURATION) or {}), "deployment_id": DEPLOYMENT_ID}
    answer = {**body, "client_id": "demo-" + secrets.token_hex(6), TOOL_CONFIGURATION: tool}
    return JSONResponse(answer, status_code=201)


async def _registration(request: Request, client_id: str | None = None) -> Registration:
    tenant = await services(request).tenants.get_by_slug(DEMO_SLUG)
    if tenant is None:
        raise DemoLmsRefusal("There is no demo tenant; run `broker demo` (make run does).", status_code=409)
    rows = await list_registrations(services(request).database, tenant_id=tenant.id)
    mine = [row for row in rows if row.issuer == issuer(settings_of(request))]
    if client_id is not None:
        mine = [row for row in mine if row.client_id == client_id]
    if not mine:
        raise DemoLmsRefusal("The demo LMS has not registered the demo tool yet.", status_code=409)
    return mine[-1]


def _hint(values: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def framed(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A page shown in the /try page's frame; a Refusal it raises is shown there too."""

    @functools.wraps(endpoint)
    async def page(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Refusal as refusal:
            response = refusal_page(request, refusal)
            response.headers["Content-Security-Policy"] = response.headers["Content-Security-Policy"].replace(
                "frame-ancestors 'none'", "frame-ancestors 'self'"
            )
            return response

    return page


@framed
async def launch(request: Request) -> Response:
    """The LMS's side of a launch: an OIDC login initiation to the tool (here, the broker)."""
    registration = await _registration(request)
    tool = registration.registration_request.get(TOOL_CONFIGURATION, {})
    target = tool.get("target_link_uri") or registration.registration_request.get("redirect_uris", [""])[0]
    query = {
        "iss": registration.issuer,
        "login_hint": "demo-student",
        "target_link_uri": target,
        "lti_message_hint": _hint({"target_link_uri": target, "client_id": registration.client_id}),
        "client_id": registration.client_id,
        "lti_deployment_id": DEPLOYMENT_ID,
    }
    return RedirectResponse(registration.registration_request["initiate_login_uri"] + "?" + urlencode(query), 303)


@framed
async def authorize(request: Request) -> Response:
    """The authorization endpoint: a signed id_token for the demo student, posted back to the tool."""
    params = request.query_params
    try:
        hint = json.loads(base64.urlsafe_b64decode(params.get("lti_message_hint", "")))
    except ValueError as error:
        raise DemoLmsRefusal("The launch did not start at the demo LMS.") from error
    registration = await _registration(request, params.get("client_id"))
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in registration.registration_request.get("redirect_uris", []):
        raise DemoLmsRefusal("The redirect_uri is not one the tool registered.")
    claims = {
        "iss": registration.issuer,
        "aud": registration.client_id,
        "azp": registration.client_id,
        "sub": "demo-student",
        "nonce": params.get("nonce", ""),
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": "ada@demo.example",
        lti.MESSAGE_TYPE: lti.RESOURCE_LINK_REQUEST,
        lti.VERSION: lti.LTI_VERSION,
        lti.DEPLOYMENT_ID: DEPLOYMENT_ID,
        lti.TARGET_LINK_URI: hint.get("target_link_uri"),
        lti.RESOURCE_LINK: {"id": "demo-resource", "title": "The demo activity"},
        lti.ROLES: ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
        lti.CONTEXT: {"id": "demo-course", "label": "DEMO 101", "title": "A demo course"},
    }
    id_token = jose.sign(claims, _key(), now=time.time(), lifetime=ID_TOKEN_LIFETIME)
    context = {"title": "Signing in to the tool", "action": redirect_uri,
               "fields": {"id_token": id_token, "state": params.get("state", "")}}  # fmt: skip
    return render(request, "autopost.html", context, frame_ancestors="'self'", scripts=("autosubmit.js",),
                  form_action=redirect_uri)  # fmt: skip


def routes(settings: Settings) -> list[BaseRoute]:
    """The demo LMS's routes, and /try; none in production."""
    if settings.is_production:
        return []
    return [
        Route(PATH + "/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route(PATH + "/jwks", jwks, methods=["GET"]),
        Route(PATH + "/register", register, methods=["POST"]),
        Route(PATH + "/launch", launch, methods=["GET"]),
        Route(PATH + "/authorize", authorize, methods=["GET"]),
    ]


TRY_PAGE = Route("/try", try_page, methods=["GET"], name="try_it")
