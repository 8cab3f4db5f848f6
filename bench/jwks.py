"""JWKS route throughput under a real load generator: `wrk -c8` against the broker's
/t/{slug}/.well-known/jwks.json and against a bare Starlette route serving the same bytes, each with one
uvicorn worker, in alternating rounds; the median of the rounds. Target: the broker at >= 0.85x the bare
route's requests/s.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass

from bench.deployment import deployment
from bench.loadgen import Server, before_source, median, process_cpu_seconds, uvicorn_server

CONNECTIONS = 8
SECONDS = 3
ROUNDS = 5
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_ERRORS = re.compile(r"Non-2xx or 3xx responses|Socket errors")


@dataclass(frozen=True)
class Result:
    per_second: float
    cpu_ms_per_request: float


def wrk(server: Server, path: str, seconds: int = SECONDS) -> Result:
    """One wrk run of `seconds` over CONNECTIONS keep-alive connections (one wrk thread)."""
    command = [_wrk(), "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", server.url + path]
    cpu_before = process_cpu_seconds(server.pid)
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 30).stdout  # noqa: S603
    cpu = process_cpu_seconds(server.pid) - cpu_before
    if _ERRORS.search(output):
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    match = _RATE.search(output)
    if match is None:
        raise RuntimeError(f"wrk printed no rate:\n{output}")
    rate = float(match.group(1))
    return Result(rate, 1000 * cpu / (rate * seconds))


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is missing: `make bench` installs it (Debian package wrk)")
    return found


def main() -> None:
    with deployment() as bench, ExitStack() as servers:
        path = f"/t/{bench.slug}/.well-known/jwks.json"
        broker = servers.enter_context(uvicorn_server("broker.app:create_app", bench.env, factory=True))
        with urllib.request.urlopen(broker.url + path) as answer:  # noqa: S310 - loopback
            body = answer.read().decode()
        measured = {
            "bare Starlette": servers.enter_context(
                uvicorn_server("bench.bare_app:app", {"BENCH_BODY": body, "BENCH_PATH": path})
            ),
            "broker": broker,
        }
        if before_source():
            measured["broker before"] = servers.enter_context(
                uvicorn_server("broker.app:create_app", bench.env, factory=True, source=before_source())
            )
        for server in measured.values():
            wrk(server, path, 1)  # warm-up
        rounds: dict[str, list[Result]] = {name: [] for name in measured}
        for _ in range(ROUNDS):
            for name, server in measured.items():
                rounds[name].append(wrk(server, path))
    figures = {
        name: (median([r.per_second for r in results]), median([r.cpu_ms_per_request for r in results]))
        for name, results in rounds.items()
    }
    print(f"JWKS route under wrk -c{CONNECTIONS} (one wrk thread), median of {ROUNDS} alternating rounds of "
          f"{SECONDS} s, one uvicorn worker each:")
    bare_rate, bare_cpu = figures["bare Starlette"]
    for name, (per_second, cpu_ms) in figures.items():
        ratios = "" if name.startswith("bare") else (
            f"   {per_second / bare_rate:.2f}x the bare route's requests/s, {bare_cpu / cpu_ms:.2f}x by CPU"
        )
        print(f"  {name:<15}{per_second:9.0f} req/s {cpu_ms:7.3f} ms server CPU/request{ratios}")
    print("  target: the broker at >= 0.85x the bare route's requests/s")


if __name__ == "__main__":
    main()
