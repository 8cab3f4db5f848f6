"""What the in-process benches share: CPU time per call, best of rounds, and a checkout's figures measured in a
process of its own (BENCH_BEFORE's with its own `.venv`).

That process runs this file with the bench's file: bench/ is no package on its path (`-P`, and BENCH_BEFORE's
own bench/ may come first there), so the bench's `measure(best_cpu, *arguments)` is read from its file and given
the timer, and its figures are printed as JSON.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import runpy
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any


async def best_cpu(run: Callable[[], Awaitable[None]], *, rounds: int, number: int) -> float:
    """µs of the process's CPU per call of `run`, best of `rounds` rounds of `number` calls."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(number):
            await run()
        best = min(best, (time.process_time() - started) / number * 1e6)
    return best


BestCpu = Callable[..., Coroutine[Any, Any, float]]


def measured(source: str, script: str, *arguments: str) -> dict[str, float]:
    """The figures of `script`'s `measure(best_cpu, *arguments)`, run with the checkout at `source`'s broker
    (this one when empty) in a process of its own."""
    python, env = sys.executable, dict(os.environ)
    if source:
        env["PYTHONPATH"] = source
        own = Path(source) / ".venv" / "bin" / "python"
        python = str(own) if own.exists() else python
    answer = subprocess.run(  # noqa: S603 - fixed arguments
        # -P: the script's folder (bench/, whose platform.py is not the standard library's) stays off the path.
        [python, "-P", __file__, script, *arguments],
        env=env, cwd=source or None, check=True, capture_output=True, text=True,
    )  # fmt: skip
    figures: dict[str, float] = json.loads(answer.stdout.splitlines()[-1])
    return figures


def best_of_processes(script: str, processes: int, *arguments: str) -> dict[str, dict[str, float]]:
    """Each figure of `script`, the best of `processes` processes, for this checkout ("broker") and, with
    BENCH_BEFORE, that checkout ("broker before"), the two taking turns."""
    before = os.environ.get("BENCH_BEFORE", "")
    sources = {"broker": "", **({"broker before": before} if before else {})}
    best: dict[str, dict[str, float]] = {}
    for _ in range(processes):
        for name, source in sources.items():
            for key, value in measured(source, script, *arguments).items():
                best.setdefault(name, {})[key] = min(best.get(name, {}).get(key, value), value)
    return best


def _measure_here(script: str, *arguments: str) -> None:
    result = runpy.run_path(script)["measure"](best_cpu, *arguments)
    figures = asyncio.run(result) if inspect.iscoroutine(result) else result
    print(json.dumps(figures))


if __name__ == "__main__":
    _measure_here(*sys.argv[1:])
