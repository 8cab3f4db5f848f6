"""Prometheus metrics: what the broker counts as it works (`broker/monitoring.py` serves them).

Counters live in this process, or, when PROMETHEUS_MULTIPROC_DIR is set (as `broker serve --workers N` sets
it), in files that every worker process writes and the one answering the scrape adds up.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Histogram

REGISTRATIONS = Counter(
    "broker_registrations", "Registration pages answered, by outcome, platform profile and tenant",
    ["outcome", "profile", "tenant"],
)  # fmt: skip
LAUNCHES = Counter("broker_launches", "Launches answered, by outcome", ["outcome"])
OUTBOUND = Counter(
    "broker_outbound_requests", "Outbound calls, by purpose (the kind of host) and status", ["purpose", "status"]
)
OUTBOUND_SECONDS = Histogram(
    "broker_outbound_request_seconds", "Time from sending an outbound call to its whole answer, by purpose",
    ["purpose"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
DELIVERIES = Counter("broker_webhook_deliveries", "Webhook delivery attempts, by outcome", ["outcome"])
CACHE_LOOKUPS = Counter(
    "broker_cache_lookups", "Key set lookups answered from the process's cache (hit) or not (miss)",
    ["cache", "result"],
)  # fmt: skip
RATE_LIMIT_REFUSALS = Counter("broker_rate_limit_refusals", "Requests refused by a limit, by limit", ["limit"])


def series_inc(series: Any) -> Callable[[float], None]:
    """The `inc` of a labelled series' value itself, for a count made on every request: the series' own `inc`
    first checks, at each call, that it has its labels (two Python calls more). The value is the one the series
    reads, in this process or in the files of PROMETHEUS_MULTIPROC_DIR."""
    inc: Callable[[float], None] = series._value.inc
    return inc


def outbound_call(purpose: str, status_code: int | None, seconds: float) -> None:
    """Counts one outbound call and its duration (the labelled series kept, not looked up at each call)."""
    _outbound_count(purpose, status_class(status_code)).inc()
    _outbound_seconds(purpose).observe(seconds)


@functools.cache
def _outbound_count(purpose: str, status: str) -> Any:
    return OUTBOUND.labels(purpose, status)


@functools.cache
def _outbound_seconds(purpose: str) -> Any:
    return OUTBOUND_SECONDS.labels(purpose)


def status_class(status_code: int | None) -> str:
    """`2xx`, `4xx`, …; `error` when there was no answer."""
    return f"{status_code // 100}xx" if status_code else "error"
