"""The guarded outbound HTTP client: every request the broker makes to a platform or a tenant goes here.

It refuses non-https URLs and hosts that resolve to internal addresses (before the request and again at
connect time, against DNS rebinding), follows redirects itself, and bounds time and response size (decoded,
as it streams). Each call names its purpose, which has its own connection pool (`limits`). Address policy in
`addresses`, the guarded network layer (aiohttp, a pool per purpose) in `transport`, bodies in `bodies`, the
client in `client`. Webhook posts, thousands a second to few receivers, go through `webhook_poster`: the same
network layer and rules, without the redirect handling. Both clients take one set of `options`.
"""

from broker.http_client.addresses import Resolver, check_url_is_public
from broker.http_client.client import GuardedClient
from broker.http_client.errors import (
    InvalidJSONError,
    OutboundConnectionError,
    OutboundError,
    OutboundTimeoutError,
    ResponseTooLargeError,
    TooManyRedirectsError,
    UnsafeURLError,
)
from broker.http_client.limits import KeyedLimiter, Purpose
from broker.http_client.options import OutboundOptions
from broker.http_client.responses import OutboundResponse
from broker.http_client.webhook_poster import WebhookPoster

__all__ = [
    "GuardedClient",
    "InvalidJSONError",
    "KeyedLimiter",
    "OutboundConnectionError",
    "OutboundError",
    "OutboundOptions",
    "OutboundResponse",
    "OutboundTimeoutError",
    "Purpose",
    "Resolver",
    "ResponseTooLargeError",
    "TooManyRedirectsError",
    "UnsafeURLError",
    "WebhookPoster",
    "check_url_is_public",
]
