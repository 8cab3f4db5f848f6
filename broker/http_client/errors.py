"""What can go wrong with an outbound request: one exception per failure kind, each safe to show and log."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


class OutboundError(Exception):
    """An outbound request failed; `reason` is safe to show to a person and to log."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = redact(url)
        self.reason = reason
        super().__init__(f"{reason} ({self.url})")


class UnsafeURLError(OutboundError):
    """The URL is malformed, uses a refused scheme, or its host is an internal address."""


class TooManyRedirectsError(OutboundError):
    """The server redirected more times than allowed."""


class OutboundTimeoutError(OutboundError):
    """Connecting, reading, or the whole call took too long."""


class ResponseTooLargeError(OutboundError):
    """The response body is larger than the client accepts."""


class OutboundConnectionError(OutboundError):
    """No usable HTTP exchange: DNS failure, refused connection, TLS failure, broken response."""


class InvalidJSONError(OutboundError):
    """The response is not a JSON document."""


def redact(url: str) -> str:
    """The URL without credentials, query or fragment: a registration token may ride in a query string."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
