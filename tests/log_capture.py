"""The broker's log lines as JSON objects, captured from the processes' `broker` loggers while a test runs."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from broker.logs import ContextFilter, JsonFormatter, RedactSecretsFilter

WAIT_SECONDS = 5.0


class CapturedLines:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    def all(self) -> list[dict[str, Any]]:
        """Every line so far, each parsed (a line that is not one JSON object fails the test here)."""
        lines = [json.loads(line) for line in self.stream.getvalue().splitlines()]
        assert all(isinstance(line, dict) for line in lines)
        return lines

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """The request lines (one a request), those of `path` only when given."""
        return [
            line for line in self.all()
            if line["logger"] == "broker.access" and "status" in line and (path is None or line["path"] == path)
        ]  # fmt: skip

    def request(self, path: str, status: int) -> dict[str, Any]:
        """The one line of the request to `path` answered with `status`, waiting for it a little: a server writes
        it just after the response has gone."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            found = [line for line in self.requests(path) if line["status"] == status]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert len(found) == 1, f"{len(found)} lines for {path} {status}"
        return found[0]


@contextmanager
def json_lines() -> Iterator[CapturedLines]:
    """The `broker` loggers' lines at INFO and above, as the broker's JSON set-up writes them."""
    captured = CapturedLines()
    handler = logging.StreamHandler(captured.stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("broker")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
