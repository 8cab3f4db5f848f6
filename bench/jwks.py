"""JWKS route throughput under a real load generator: `wrk -c8` against the broker's
/t/{slug}/.well-known/jwks.json and against a bare Starlette route serving the same bytes, each with one
uvicorn worker, in alternating rounds; the median of the rounds. Target: the broker at >= 0.85x the bare
route's requests/s. The bare route is also measured sending the headers the broker's answer has beside its
own (cache lifetime, CORS, nosniff, request id): what the server's writing of them costs, apart from the app.

Every request carries the broker's own host (BROKER_BASE_URL's), as a platform fetching the key set does. The
answer is checked before the runs (a 200 whose body is a key set with the tenant's key), and each run's bytes
read per request must be that answer's size: a run of refusals or redirects fails instead of being measured.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.deployment import BASE_URL, deployment
from bench.loadgen import Server, broker_servers, median, process_cpu_seconds, uvicorn_server

CONNECTIONS = 8
SECONDS = 3
ROUNDS = 5
HOST = urlsplit(BASE_URL).netloc
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_READ = re.compile(r"^\s*(\d+) requests in [\d.]+\w+, ([\d.]+)([KMG]?B) read", re.MULTILINE)
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
_ERRORS = re.compile(r"Non-2xx or 3xx responses|Socket errors")
# wrk prints the bytes read with two decimals of their unit: a run of ~10 MB is known to about 0.1%.
_SIZE_TOLERANCE = 0.01


@dataclass(frozen=True)
class Result:
    per_second: float
    cpu_ms_per_request: float


def extra_headers(broker: Server, bare: Server, path: str) -> dict[str, str]:
    """The headers of the broker's key set answer that the bare route's answer has not (by name), as sent."""

    def headers(server: Server) -> dict[str, str]:
        head = _exchange(server, path)[0].decode("latin-1").split("\r\n")[1:]
        return dict((part.strip() for part in line.split(":", 1)) for line in head)  # type: ignore[misc]

    own = {name.lower() for name in headers(bare)}
    return {name: value for name, value in headers(broker).items() if name.lower() not in own}


def _exchange(server: Server, path: str) -> tuple[bytes, bytes]:
    """The head and body of the server's answer to a GET of `path` with the broker's host."""
    host, port = server.address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += connection.recv(65536) or _closed(answer)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(body) < length:
            body += connection.recv(65536) or _closed(answer)
    return head, body


def key_set_answer(server: Server, path: str) -> tuple[bytes, int]:
    """The key set the server answers on `path` for the broker's host, and the size of the whole answer (head
    and body) as wrk reads it; RuntimeError unless it is a 200 carrying a JSON key set with at least one key."""
    head, body = _exchange(server, path)
    status = head.split(b" ", 2)[1]
    if status != b"200":
        raise RuntimeError(f"GET {path} (Host: {HOST}) answered {status.decode()}, not the key set:\n{head.decode()}")
    keys = json.loads(body).get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(key, dict) and "kid" in key for key in keys):
        raise RuntimeError(f"GET {path} (Host: {HOST}) answered no key set: {body[:300]!r}")
    return body, len(head) + 4 + len(body)


def _closed(answer: bytes) -> bytes:
    raise RuntimeError(f"the server closed the connection mid-answer: {answer[:300]!r}")


def wrk(server: Server, path: str, answer_size: int, seconds: int = SECONDS) -> Result:
    """One wrk run of `seconds` over CONNECTIONS keep-alive connections (one wrk thread), every answer checked to
    be `answer_size` bytes (wrk itself counts only 4xx and 5xx answers as errors, not redirects)."""
    command = [_wrk(), "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-H", f"Host: {HOST}", server.url + path]
    cpu_before = process_cpu_seconds(server.pid)
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 30).stdout  # noqa: S603
    cpu = process_cpu_seconds(server.pid) - cpu_before
    if _ERRORS.search(output):
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    match, read = _RATE.search(output), _READ.search(output)
    if match is None or read is None:
        raise RuntimeError(f"wrk printed no rate:\n{output}")
    per_request = float(read.group(2)) * _UNITS[read.group(3)] / int(read.group(1))
    if abs(per_request - answer_size) > _SIZE_TOLERANCE * answer_size:
        raise RuntimeError(
            f"wrk read {per_request:.0f} bytes per answer where the key set's answer is {answer_size}: some "
            f"answers were something else\n{output}"
        )
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
        brokers = broker_servers(servers, bench.env)
        body, _ = key_set_answer(brokers["broker"], path)
        bare_env = {"BENCH_BODY": body.decode(), "BENCH_PATH": path}
        bare = servers.enter_context(uvicorn_server("bench.bare_app:app", bare_env))
        added = extra_headers(brokers["broker"], bare, path)
        measured = {
            "bare Starlette": bare,
            # The bare route with the broker's headers: what writing them costs the server, apart from the app.
            "bare + headers": servers.enter_context(
                uvicorn_server("bench.bare_app:app", {**bare_env, "BENCH_HEADERS": json.dumps(added)})
            ),
            **brokers,
        }
        sizes = {}
        for name, server in measured.items():
            served, sizes[name] = key_set_answer(server, path)
            if served != body:
                raise RuntimeError(f"{name} serves another key set than the broker: {served[:300]!r}")
            wrk(server, path, sizes[name], 1)  # warm-up
        rounds: dict[str, list[Result]] = {name: [] for name in measured}
        for _ in range(ROUNDS):
            for name, server in measured.items():
                rounds[name].append(wrk(server, path, sizes[name]))
    figures = {
        name: (median([r.per_second for r in results]), median([r.cpu_ms_per_request for r in results]))
        for name, results in rounds.items()
    }
    print(f"JWKS route under wrk -c{CONNECTIONS} (one wrk thread, Host: {HOST}), median of {ROUNDS} alternating "
          f"rounds of {SECONDS} s, one uvicorn worker each; every answer the {len(body)}-byte key set:")
    bare_rate, bare_cpu = figures["bare Starlette"]
    for name, (per_second, cpu_ms) in figures.items():
        ratios = "" if name == "bare Starlette" else (
            f"   {per_second / bare_rate:.2f}x the bare route's requests/s, {bare_cpu / cpu_ms:.2f}x by CPU"
        )
        print(f"  {name:<15}{per_second:9.0f} req/s {cpu_ms:7.3f} ms server CPU/request{ratios}")
    print("  target: the broker at >= 0.85x the bare route's requests/s")


if __name__ == "__main__":
    main()
