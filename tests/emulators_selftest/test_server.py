"""The loopback server helper: serves any ASGI app, knows its URL before serving, stops cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.emulators import LoopbackServer, base_url_of, bind_loopback, serve, serve_on


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello from {request.url.netloc}")


def _app() -> Starlette:
    return Starlette(routes=[Route("/", _hello)])


def test_serve_yields_a_loopback_url_and_stops() -> None:
    with serve(_app()) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert httpx.get(base_url + "/", trust_env=False).text.startswith("hello")
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url + "/", trust_env=False, timeout=2.0)


def test_the_url_is_known_before_the_app_is_built() -> None:
    sock = bind_loopback()
    base_url = base_url_of(sock)
    with serve_on(sock, _app()) as served:
        assert served == base_url
        other_name = base_url_of(sock, host="localhost")
        assert httpx.get(other_name + "/", trust_env=False).text == f"hello from {other_name[7:]}"


def test_a_failing_start_up_is_reported_within_the_bound() -> None:
    @asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield  # pragma: no cover

    server = LoopbackServer(Starlette(lifespan=broken), lifespan="on", start_timeout=5.0)
    with pytest.raises(RuntimeError, match="stopped during start-up"):
        server.start()
    server.stop()
