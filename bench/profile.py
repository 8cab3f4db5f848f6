"""Where the broker's CPU goes in a registration flow and in a launch.

py-spy attaches to the warmed-up uvicorn worker while the benchmarks' clients drive it and samples the thread
holding the GIL (Python's own work; waiting threads are not mistaken for busy ones). Each sample is put in the
first cost whose code is on its stack; SQLAlchemy's async layer runs the ORM in greenlets, whose stacks do not
reach back to the route, so database work is recognised by its own frames. The broker's CPU per operation and
its split by thread come from /proc, so a cost's milliseconds are its share of that CPU time.

`make bench ONLY=profile`; py-spy's collapsed stacks (for a flame graph) are kept in bench/profiles/.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench import launch, platform, registration
from bench.deployment import deployment
from bench.loadgen import CLOCK_TICKS, Server, uvicorn_server

FLOWS = 320
LAUNCHES = 3_200
SAMPLES_PER_SECOND = 250
TOP = 14
OUTPUT = Path(__file__).with_name("profiles")
PY_SPY = str(Path(sys.executable).with_name("py-spy"))

# (cost, code that marks it). A sample goes to the first of these costs with code anywhere on its stack...
COSTS = [
    ("sealing and unsealing form state", ("broker/sealed_state.py",)),
    ("redaction of stored documents", ("broker/redaction.py",)),
    ("encryption at rest (Fernet, HKDF)", ("tenants/encryption.py",)),
    ("template rendering (Jinja2)", ("jinja2/",)),
    ("form parsing", ("python_multipart/", "starlette/formparsers.py")),
    ("JWS signing and verification", ("broker/launch/jose.py", "joserfc/", "cryptography/")),
    # Before SQLAlchemy, whose frames are under the SQLite driver's: it runs on the loop's thread, in its greenlet.
    ("database: SQLite / psycopg driver", ("broker/direct_sql.py", "broker/inline_sqlite.py", "sqlite3/", "psycopg/")),
    ("database: SQLAlchemy ORM and Core", ("sqlalchemy/",)),
    ("outbound HTTP (guarded client, aiohttp)", ("broker/http_client", "aiohttp/", "yarl/", "multidict/", "httpx/")),
]
# ...or else to the one whose code is nearest the top of the stack, where the time is spent.
LOCAL_COSTS = [
    ("JSON encoding and decoding", ("json/",)),
    ("registration logic", ("broker/registration/",)),
    ("launch logic", ("broker/launch/",)),
    ("other broker code", ("broker/", "tenants/")),
    ("Starlette routing, requests, responses", ("starlette/",)),
    ("uvicorn and the event loop", ("uvicorn/", "asyncio/", "uvloop/")),
]
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*):\d+\)$")


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of the process, by thread id."""
    seconds = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        seconds[tid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return seconds


def profile(name: str, server: Server, drive: Callable[[], int]) -> tuple[Path, float, float]:
    """Runs `drive` with py-spy attached to `server`; returns the samples file, the broker's CPU ms per
    operation, and the share of it spent in the main (event loop) thread."""
    OUTPUT.mkdir(exist_ok=True)
    output = OUTPUT / f"{name}.txt"
    command = [PY_SPY, "record", "--pid", str(server.pid), "--gil", "--function", "--nonblocking", "--format", "raw",
               "--rate", str(SAMPLES_PER_SECOND), "--output", str(output)]
    sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        time.sleep(1.0)  # attached
        before = thread_cpu_seconds(server.pid)
        operations = drive()
        after = thread_cpu_seconds(server.pid)
    finally:
        sampler.send_signal(signal.SIGINT)
        sampler.wait(timeout=60)
    spent = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    total = sum(spent.values())
    return output, 1000 * total / operations, spent.get(str(server.pid), 0.0) / total if total else 0.0


def cost_of(stack: list[str]) -> str:
    for label, marks in COSTS:
        if any(mark in frame for frame in stack for mark in marks):
            return label
    for frame in reversed(stack):
        for label, marks in LOCAL_COSTS:
            if any(mark in frame for mark in marks):
                return label
    return "other (interpreter, libraries)"


def _sample_lines(text: str) -> list[str]:
    """py-spy's collapsed stacks, a stack and its count a line; a frame whose name holds a line break (a
    function's source text, as py-spy prints some) is joined back."""
    return [line.replace("\n", " ") for line in re.findall(r".*? \d+$", text, flags=re.MULTILINE | re.DOTALL)]


def summarise(samples_file: Path, cpu_ms: float, main_share: float, unit: str) -> None:
    costs: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in _sample_lines(samples_file.read_text()):
        stack_text, _, count_text = line.rpartition(" ")
        count = int(count_text)
        stack = stack_text.split(";")
        total += count
        costs[cost_of(stack)] += count
        seen = set()
        for frame in stack:
            match = _FRAME.match(frame)
            if match and match["file"].startswith(("broker/", "tenants/")) and frame not in seen:
                seen.add(frame)
                functions[f"{match['file']}:{match['function']}"] += count
    if not total:
        print("  no samples (is py-spy allowed to attach?)")
        return
    print(f"  {cpu_ms:.2f} ms broker CPU per {unit} ({main_share:.0%} in the event loop's thread, the rest in "
          f"database driver threads); {total} samples of Python holding the GIL, shared out as:")
    for label, count in costs.most_common():
        print(f"    {count / total:6.1%}  {label}")
    print("  broker functions, with what they call:")
    for label, count in functions.most_common(TOP):
        print(f"    {count / total:6.1%}  {label}")


def main() -> None:
    with deployment() as bench, platform.running() as (lms, key):
        with uvicorn_server("broker.app:create_app", bench.env, factory=True) as broker:
            registration.measure(broker, bench.slug, lms.url, 32, 8)

            def register() -> int:
                registration.measure(broker, bench.slug, lms.url, FLOWS, 8)
                return FLOWS

            print(f"Profile of {FLOWS} registration flows (8 admins), py-spy at {SAMPLES_PER_SECOND} samples/s:")
            summarise(*profile("registration", broker, register), "flow")
        print()
        with uvicorn_server("broker.app:create_app", bench.env, factory=True) as broker:
            users = launch.users(bench, broker, lms, key)
            launch.measure(users, broker.pid, 400)

            def launches() -> int:
                launch.measure(users, broker.pid, LAUNCHES)
                return LAUNCHES

            print(f"Profile of {LAUNCHES} launches (8 users), py-spy at {SAMPLES_PER_SECOND} samples/s:")
            summarise(*profile("launch", broker, launches), "launch")


if __name__ == "__main__":
    main()
