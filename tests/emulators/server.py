"""Serve any ASGI app over real HTTP on 127.0.0.1, in a background thread of the test process.

Used for the platform emulators and for the broker itself in end-to-end tests, so nothing here knows
about LTI. The listening socket is bound *before* the app is built (port 0, so the kernel picks a free
port): an app that must know its own base URL (every emulator does, to write its configuration
document) can be constructed from ``base_url_of(sock)`` and then served with ``serve_on(sock, app)``.

All waits are bounded: start-up waits at most ``start_timeout`` seconds, shut-down sets
``should_exit`` and joins the thread for at most ``stop_timeout`` seconds; requests still running at
shut-down (for example a deliberately delayed answer) are cancelled after ``GRACEFUL_SHUTDOWN_S``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

LOOPBACK_HOST = "127.0.0.1"
GRACEFUL_SHUTDOWN_S = 2
_POLL_S = 0.01

LifespanMode = Literal["auto", "on", "off"]


def bind_loopback(host: str = LOOPBACK_HOST) -> socket.socket:
    """A TCP socket bound to ``host`` on a free port chosen by the kernel (not yet served)."""
    # An explicit IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says it is TCP, and without it every keep-alive request waits ~40 ms (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def base_url_of(sock: socket.socket, host: str | None = None) -> str:
    """``http://<host>:<port>`` for a bound socket; ``host`` defaults to the bound address."""
    bound_host, port = sock.getsockname()[:2]
    return f"http://{host or bound_host}:{port}"


class LoopbackServer:
    """One uvicorn ``Server`` running ``app`` on a pre-bound socket in a daemon thread.

    Use as a context manager (``with LoopbackServer(app) as base_url: ...``) or call ``start()`` /
    ``stop()``. ``stop()`` is idempotent.
    """

    def __init__(
        self,
        app: ASGIApp,
        sock: socket.socket | None = None,
        *,
        start_timeout: float = 5.0,
        stop_timeout: float = 5.0,
        lifespan: LifespanMode = "auto",
    ) -> None:
        self.sock = sock if sock is not None else bind_loopback()
        self.base_url = base_url_of(self.sock)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        config = uvicorn.Config(
            app,
            log_level="warning",
            log_config=None,  # leave the test process's logging set-up alone
            access_log=False,
            lifespan=lifespan,
            loop="asyncio",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        self.server = uvicorn.Server(config)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"uvicorn {self.base_url}", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # SystemExit from a failed lifespan start-up included
            self._error = exc

    def start(self) -> str:
        """Start serving; return the base URL once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"server for {self.base_url} stopped during start-up") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"server for {self.base_url} did not start in {self.start_timeout} s")
            time.sleep(_POLL_S)
        return self.base_url

    def stop(self) -> None:
        """Ask the server to exit and wait (bounded) for its thread; close the socket."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(self.stop_timeout)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(self.stop_timeout)
        self.sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def serve_on(sock: socket.socket, app: ASGIApp, *, lifespan: LifespanMode = "auto") -> Iterator[str]:
    """Serve ``app`` on an already bound socket; yield its base URL."""
    with LoopbackServer(app, sock, lifespan=lifespan) as base_url:
        yield base_url


@contextmanager
def serve(app: ASGIApp, *, lifespan: LifespanMode = "auto") -> Iterator[str]:
    """Serve ``app`` on a fresh 127.0.0.1 port; yield its base URL (``http://127.0.0.1:<port>``)."""
    with serve_on(bind_loopback(), app, lifespan=lifespan) as base_url:
        yield base_url
