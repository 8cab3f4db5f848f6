"""The one guarded outbound HTTP client: every request the broker makes to a platform or a tenant goes here.

It refuses non-https URLs and hosts that resolve to internal addresses (before the request and again at
connect time, against DNS rebinding), follows redirects itself, and bounds time and response size.
Address policy in `addresses`, the guarded network layer in `transport`, the client in `client`.
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
from broker.http_client.responses import OutboundResponse

__all__ = [
    "GuardedClient",
    "InvalidJSONError",
    "OutboundConnectionError",
    "OutboundError",
    "OutboundResponse",
    "OutboundTimeoutError",
    "Resolver",
    "ResponseTooLargeError",
    "TooManyRedirectsError",
    "UnsafeURLError",
    "check_url_is_public",
]
