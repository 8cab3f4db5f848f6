"""How fast this host is beside the host the performance targets were set on, measured in the same rounds as the
figures it scales.

The targets (a registration flow at most 3 ms of the broker's CPU, a launch at most 1.2 ms) were set on a 2-core
host where a bare Starlette request took about 0.03 ms of server CPU under wrk and one RSA-2048 signature about
0.2 ms (`openssl speed rsa2048`). Hosts of the same kind differ by about two times, so a figure is judged on that
host's scale: multiplied by the reference's bare request CPU over this run's. The bare request is the yardstick
because it is the same kind of work as the broker's (Python, uvicorn, the event loop); the RSA signature, native
code, is printed beside it as a second opinion on the host's speed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from contextlib import AbstractContextManager
from dataclasses import dataclass

from bench.jwks import key_set_answer, wrk
from bench.loadgen import Server, median, uvicorn_server

# The host the targets were set on.
REFERENCE_BARE_REQUEST_MS = 0.03
REFERENCE_RSA_SIGN_MS = 0.2

PATH = "/host-speed"
# A key set's shape, which the answer's check (bench/jwks.py) expects.
BODY = '{"keys":[{"kid":"host-speed"}]}'
# Seconds of wrk a round: a second is some 15,000 requests here; two give a steady figure.
SECONDS = 2
_SIGN = re.compile(r"^rsa\s+2048 bits\s+([\d.]+)s", re.MULTILINE)


def bare_route() -> AbstractContextManager[Server]:
    """A bare Starlette route answering a small JSON body from memory, in a uvicorn worker of its own."""
    return uvicorn_server("bench.bare_app:app", {"BENCH_BODY": BODY, "BENCH_PATH": PATH})


def bare_request_ms(server: Server) -> float:
    """The bare route's server CPU per request under `wrk -c8`, in ms (a round: run it between the figures'
    rounds, so that it sees the host as they do)."""
    return wrk(server, PATH, key_set_answer(server, PATH)[1], SECONDS).cpu_ms_per_request


def rsa_sign_ms() -> float:
    """One RSA-2048 signature by OpenSSL, in ms (`openssl speed`, one core)."""
    command = [_openssl(), "speed", "-seconds", "2", "rsa2048"]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout  # noqa: S603
    match = _SIGN.search(output)
    if match is None:
        raise RuntimeError(f"openssl speed printed no RSA-2048 signing time:\n{output}")
    return float(match.group(1)) * 1000


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        raise RuntimeError("openssl is missing: install the Debian package openssl")
    return found


@dataclass(frozen=True)
class HostSpeed:
    """This run's yardsticks: the bare request's CPU in each round (ms), and one RSA-2048 signature (ms)."""

    bare_request_ms: list[float]
    rsa_sign_ms: float

    @property
    def scale(self) -> float:
        """A figure of this host times `scale` is that figure on the reference host."""
        return REFERENCE_BARE_REQUEST_MS / median(self.bare_request_ms)

    def describe(self) -> str:
        bare = median(self.bare_request_ms)
        return (
            f"host speed, measured in the same rounds: a bare Starlette request {bare:.3f} ms of server CPU under wrk "
            f"-c8 (median of {len(self.bare_request_ms)}; the targets' host: {REFERENCE_BARE_REQUEST_MS} ms), one "
            f"RSA-2048 signature {self.rsa_sign_ms:.3f} ms (there: {REFERENCE_RSA_SIGN_MS} ms): this host is "
            f"{bare / REFERENCE_BARE_REQUEST_MS:.2f}x slower by the request, "
            f"{self.rsa_sign_ms / REFERENCE_RSA_SIGN_MS:.2f}x by the signature"
        )

    def on_reference(self, ms: float) -> float:
        return ms * self.scale
