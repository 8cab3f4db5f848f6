"""A complete, size-capped answer to an outbound request, and how its body is read as text or JSON."""

from __future__ import annotations

import codecs
import contextlib
import functools
from dataclasses import dataclass
from email.message import Message
from typing import Any

import httpx

from broker import untrusted_json
from broker.http_client.errors import InvalidJSONError

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class OutboundResponse:
    """A complete, size-capped response."""

    url: str
    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(_codec(_content_type(self.headers)[1]), errors="replace")

    def json(self) -> Any:
        media_type = _content_type(self.headers)[0]
        if media_type is not None and not _is_json_media_type(media_type):
            raise InvalidJSONError(self.url, f"expected a JSON response, got {media_type}")
        try:
            return untrusted_json.loads(self.content)
        except ValueError as exc:
            raise InvalidJSONError(self.url, f"the response is not valid JSON: {exc}") from exc

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        return self.status_code in REDIRECT_STATUSES and "location" in self.headers


def _content_type(headers: httpx.Headers) -> tuple[str | None, str | None]:
    """The media type and charset, or None for a missing Content-Type."""
    return _parsed_content_type(headers.get("content-type", "").strip())


# A server sends the same Content-Type every time; its value is at most a header's length (8 KiB in aiohttp).
@functools.lru_cache(maxsize=256)
def _parsed_content_type(value: str) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    message = Message()
    message["content-type"] = value
    return message.get_content_type(), message.get_content_charset()


def _is_json_media_type(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _codec(charset: str | None) -> str:
    if charset:
        with contextlib.suppress(LookupError):
            return codecs.lookup(charset).name
    return "utf-8"
