"""A complete, size-capped answer to an outbound request, and how its body is read as text or JSON."""

from __future__ import annotations

import codecs
import contextlib
import functools
from dataclasses import dataclass
from email.message import Message
from itertools import chain
from typing import Any, Protocol, overload

import httpx
from multidict import CIMultiDictProxy

from broker import untrusted_json
from broker.http_client.errors import InvalidJSONError

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class Headers(Protocol):
    """What is read of an answer's headers: a value by its name in any case; a name sent more than once gives its
    values joined by ", " (httpx.Headers does so)."""

    def __getitem__(self, name: str, /) -> str: ...

    def __contains__(self, name: object, /) -> bool: ...

    @overload
    def get(self, name: str, /) -> str | None: ...

    @overload
    def get(self, name: str, default: str, /) -> str: ...


class AnswerHeaders:
    """An answer's headers read from the multidict aiohttp parsed them into, as httpx.Headers reads them, for an
    answer whose header bytes are all ASCII (which both decode alike): nothing built per answer."""

    __slots__ = ("_headers",)

    def __init__(self, headers: CIMultiDictProxy[str]) -> None:
        self._headers = headers

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._headers.getall(name))

    def __contains__(self, name: object) -> bool:
        return name in self._headers

    @overload
    def get(self, name: str, /) -> str | None: ...

    @overload
    def get(self, name: str, default: str, /) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._headers.getall(name, None)
        return default if values is None else ", ".join(values)


def answer_headers(headers: CIMultiDictProxy[str], raw: tuple[tuple[bytes, bytes], ...]) -> Headers:
    """An answer's headers as aiohttp gives them (decoded, and as sent), read as httpx.Headers reads them."""
    if b"".join(chain.from_iterable(raw)).isascii():
        return AnswerHeaders(headers)
    # Other bytes aiohttp decodes as UTF-8 (escaping what is not) and httpx.Headers as ASCII, UTF-8 or Latin-1.
    return httpx.Headers(list(raw))


@dataclass(frozen=True)
class OutboundResponse:
    """A complete, size-capped response."""

    url: str
    status_code: int
    headers: Headers
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


def _content_type(headers: Headers) -> tuple[str | None, str | None]:
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
