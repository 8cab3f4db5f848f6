"""A fast loopback LMS for the benchmarks: the few platform endpoints a registration and a launch touch.

It serves a spec-shaped configuration document, accepts every registration (answering the request as stored
with a fresh `client_id` and `deployment_id`, status 201) and publishes the key the benchmark's simulated
platform signs id_tokens with. It checks nothing, so its own cost stays out of the broker's way; the rules of
real platforms live in the test emulators. Run in its own uvicorn process: its URL and signing key come from
BENCH_PLATFORM_URL and BENCH_PLATFORM_KEY (a private JWK as JSON).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.loadgen import Server, free_port, uvicorn_server

CONFIGURATION_PATH = "/.well-known/openid-configuration"
REGISTRATION_PATH = "/lti/registrations"
AUTHORIZATION_PATH = "/lti/authorize"
TOKEN_PATH = "/lti/token"  # noqa: S105 - a path
JWKS_PATH = "/lti/jwks"
# Under this path, each name is another LMS with its own issuer: a new platform for the broker every time.
ANOTHER_PLATFORM_PATH = "/p/{name}"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
]


def configuration(base_url: str) -> dict[str, Any]:
    return {
        "issuer": base_url,
        "authorization_endpoint": base_url + AUTHORIZATION_PATH,
        "token_endpoint": base_url + TOKEN_PATH,
        "jwks_uri": base_url + JWKS_PATH,
        "registration_endpoint": base_url + REGISTRATION_PATH,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", *SCOPES],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
        PLATFORM_CONFIGURATION: {
            "product_family_code": "generic",
            "version": "1.0",
            "messages_supported": [
                {"type": "LtiResourceLinkRequest", "placements": ["ContentArea"]},
                {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea", "RichTextEditor"]},
            ],
            "variables": ["Context.id", "ResourceLink.id", "User.id", "Person.email.primary"],
        },
    }


def registered(request: dict[str, Any]) -> dict[str, Any]:
    """The registration as a platform stores it: the request, a client_id, the granted scopes, a deployment."""
    stored = dict(request)
    stored["client_id"] = str(uuid.uuid4())
    stored["scope"] = " ".join(scope for scope in str(request.get("scope", "")).split() if scope in SCOPES)
    tool = stored.get(TOOL_CONFIGURATION)
    if isinstance(tool, dict):
        stored[TOOL_CONFIGURATION] = {**tool, "deployment_id": str(uuid.uuid4())}
    return stored


def create_app() -> Starlette:
    base_url = os.environ["BENCH_PLATFORM_URL"]
    document = json.dumps(configuration(base_url)).encode()
    public_key = RSAKey.import_key(json.loads(os.environ["BENCH_PLATFORM_KEY"])).as_dict(private=False)
    key_set = json.dumps({"keys": [{**public_key, "use": "sig", "alg": "RS256"}]}).encode()

    async def openid_configuration(request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def register(request: Request) -> Response:
        body = json.dumps(registered(json.loads(await request.body())))
        return Response(body, status_code=201, media_type="application/json")

    async def jwks(request: Request) -> Response:
        return Response(key_set, media_type="application/json")

    async def another_configuration(request: Request) -> Response:
        url = base_url + ANOTHER_PLATFORM_PATH.format(name=request.path_params["name"])
        return Response(json.dumps(configuration(url)).encode(), media_type="application/json")

    return Starlette(
        routes=[
            Route(CONFIGURATION_PATH, openid_configuration),
            Route(REGISTRATION_PATH, register, methods=["POST"]),
            Route(JWKS_PATH, jwks),
            Route(ANOTHER_PLATFORM_PATH + CONFIGURATION_PATH, another_configuration),
            Route(ANOTHER_PLATFORM_PATH + REGISTRATION_PATH, register, methods=["POST"]),
        ]
    )


@contextmanager
def running() -> Iterator[tuple[Server, RSAKey]]:
    """The platform in its own uvicorn process; yields it and its private signing key."""
    port = free_port()
    key = RSAKey.generate_key(2048, {"kid": "bench-platform"})
    private_jwk = json.dumps(key.as_dict(private=True))
    env = {"BENCH_PLATFORM_URL": f"http://127.0.0.1:{port}", "BENCH_PLATFORM_KEY": private_jwk}
    with uvicorn_server("bench.platform:create_app", env, factory=True, port=port) as server:
        yield server, key
