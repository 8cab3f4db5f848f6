"""`/metrics`: the counters of `broker/metrics.py` and the outbox as the database has it at each scrape, in
Prometheus text format.

Off unless BROKER_METRICS_TOKEN is set, and then only for `Authorization: Bearer <that token>`: the series
name tenants, which is not for everyone to see. (A token rather than a separate address: one port to run
behind the proxy, and a scraper sends a bearer token as easily.)
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from broker.database import utcnow
from broker.services import services
from broker.webhooks.queries import OutboxDepth, outbox_depth


class _Outbox(Collector):
    """The outbox as the database had it when the scrape began."""

    def __init__(self, depth: OutboxDepth) -> None:
        self.depth = depth

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "broker_outbox_pending", "Webhook deliveries waiting to go out", value=self.depth.pending
        )
        oldest = self.depth.oldest_pending_event_at
        age = (utcnow() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "broker_outbox_oldest_pending_seconds", "Age of the oldest event whose delivery waits", value=age
        )


async def metrics_endpoint(request: Request) -> Response:
    found = services(request)
    token = found.settings.metrics_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        # The same answer whether metrics are off or the token is wrong: nothing to learn by probing.
        return Response("Not Found", status_code=404, media_type="text/plain")
    depth = await outbox_depth(found.database)
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_Counted())
    registry.register(_Outbox(depth))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


class _Counted(Collector):
    """This process's counters (the default registry), beside the per-scrape outbox gauges."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
