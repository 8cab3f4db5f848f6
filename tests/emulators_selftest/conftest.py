"""Fixtures for the emulator self-tests.

One loopback server per platform for the whole session (starting and stopping uvicorn costs ~0.2 s);
each test gets a *fresh* emulator built for that server's base URL and swapped in behind it, so no
state leaks between tests. A tiny JWKS app stands for the tool's keyset (Brightspace fetches it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.emulators import EMULATORS, LoopbackServer, PlatformEmulator, serve
from tests.emulators.rules import TOOL_CONFIG_KEY

USER_AGENT = "lti-broker-emulator-selftest/1.0"
TOOL = "https://tool.example.com"


class SwappableApp:
    """ASGI app that forwards to whatever ``target`` currently is."""

    def __init__(self) -> None:
        self.target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.target is not None
        await self.target(scope, receive, send)


@pytest.fixture(scope="session")
def platform_servers() -> Iterator[dict[str, tuple[LoopbackServer, SwappableApp]]]:
    servers: dict[str, tuple[LoopbackServer, SwappableApp]] = {}
    try:
        for name in EMULATORS:
            holder = SwappableApp()
            server = LoopbackServer(holder, lifespan="off")
            server.start()
            servers[name] = (server, holder)
        yield servers
    finally:
        for server, _ in servers.values():
            server.server.should_exit = True  # let them all wind down at once
        for server, _ in servers.values():
            server.stop()


@pytest.fixture
def make_emulator(platform_servers: dict[str, tuple[LoopbackServer, SwappableApp]]) -> Any:
    def make(name: str, **knobs: Any) -> PlatformEmulator:
        server, holder = platform_servers[name]
        emulator = EMULATORS[name](server.base_url)
        emulator.set_knobs(**knobs)
        holder.target = emulator.app
        return emulator

    return make


async def _jwks(request: Request) -> JSONResponse:
    return JSONResponse(
        {"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": "AQAB", "e": "AQAB"}]}
    )


@pytest.fixture(scope="session")
def jwks_url() -> Iterator[str]:
    """A reachable tool keyset URL on loopback."""
    with serve(Starlette(routes=[Route("/jwks.json", _jwks)]), lifespan="off") as base_url:
        yield base_url + "/jwks.json"


@pytest.fixture(scope="session")
def client() -> Iterator[httpx.Client]:
    """One client for the session (building one costs ~40 ms of TLS set-up, even for http)."""
    with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=5.0, trust_env=False) as http:
        yield http


def registration_request(jwks_uri: str = TOOL + "/.well-known/jwks.json", **top: Any) -> dict[str, Any]:
    """A correct LTI-DR registration request (LTI-DR §3.5.2), for a tool at https://tool.example.com."""
    request: dict[str, Any] = {
        "application_type": "web",
        "grant_types": ["client_credentials", "implicit"],
        "response_types": ["id_token"],
        "redirect_uris": [TOOL + "/lti/launch"],
        "initiate_login_uri": TOOL + "/lti/login",
        "client_name": "Example Tool",
        "jwks_uri": jwks_uri,
        "token_endpoint_auth_method": "private_key_jwt",
        "logo_uri": TOOL + "/logo.png",
        "scope": "https://purl.imsglobal.org/spec/lti-ags/scope/score "
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
        TOOL_CONFIG_KEY: {
            "domain": "tool.example.com",
            "target_link_uri": TOOL + "/lti/launch",
            "description": "An example tool",
            "claims": ["iss", "sub", "name", "email"],
            "messages": [
                {"type": "LtiResourceLinkRequest", "label": "Example Tool"},
                {"type": "LtiDeepLinkingRequest", "target_link_uri": TOOL + "/lti/launch", "label": "Add"},
            ],
        },
    }
    request.update(top)
    return request


def with_tool_config(request: dict[str, Any], **changes: Any) -> dict[str, Any]:
    request[TOOL_CONFIG_KEY].update(changes)
    return request
