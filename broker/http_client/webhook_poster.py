"""The client for webhook posts: many small POSTs to few receivers over kept connections, at little CPU a post.

It sends through the guarded network layer (`transport`: aiohttp under the address policy, with its checking
resolver and socket factory) in a pool of its own, under the guarded client's rules: the URL and what its host
resolves to are checked before the post, and again when a connection is made. Redirects are never followed (a
3xx is the receiver's answer), and each post is bounded in time, and its answer in size. A receiver's DNS answer
is kept DNS_TTL seconds and checked again at each use. What it saves over the guarded client is what a post to a
known receiver need not do again: its headers are the same every time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Self

from broker import metrics
from broker.http_client.addresses import check_url_allowed, parse_url
from broker.http_client.bodies import ACCEPT_ENCODING
from broker.http_client.errors import OutboundTimeoutError
from broker.http_client.limits import POOL_LIMITS, PoolLimits, Purpose
from broker.http_client.options import OutboundOptions
from broker.http_client.responses import OutboundResponse


class WebhookPoster:
    """Posts webhook bodies under `options`, the guarded client's rules (see the module's doc), in a pool of its
    own (`limits`)."""

    def __init__(self, options: OutboundOptions, *, limits: PoolLimits = POOL_LIMITS[Purpose.WEBHOOKS]) -> None:
        self._allow_insecure = options.allow_insecure
        self._total_timeout = options.total_timeout
        self._resolver = options.cached_resolver()
        self._transport = options.transport(self._resolver, {Purpose.WEBHOOKS: limits})
        self._bounds = options.bounds
        self._headers = {
            "User-Agent": options.user_agent, "Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING
        }  # fmt: skip

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResponse:
        """POSTs `body` as is (it is signed as sent); the receiver's answer, whatever its status.

        Raises OutboundError (UnsafeURLError, OutboundTimeoutError, OutboundConnectionError,
        ResponseTooLargeError) when there is no answer to record."""
        started = time.monotonic()
        status: int | None = None
        try:
            async with asyncio.timeout(self._total_timeout):
                target = parse_url(url)
                await check_url_allowed(target, allow_insecure=self._allow_insecure, resolver=self._resolver)
                sent = [*self._headers.items(), *headers.items()]
                response = await self._transport.send(
                    "POST", target, sent, body, purpose=Purpose.WEBHOOKS, bounds=self._bounds
                )
                status = response.status_code
                return response
        except TimeoutError as exc:
            raise OutboundTimeoutError(url, f"no complete answer within {self._total_timeout:g} s") from exc
        finally:
            metrics.outbound_call(Purpose.WEBHOOKS.value, status, time.monotonic() - started)

    async def aclose(self) -> None:
        await self._transport.aclose()
