"""Opaque cursors over time-sortable ids."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from broker.api.problems import ApiProblem

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_ID = re.compile(r"^[a-z]{3}_[0-9a-z]{26}$")


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        decoded = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if not _ID.match(decoded):
        raise ApiProblem(400, "Bad cursor", "Pass back the `next` value of the previous page unchanged.")
    return decoded


def parse_limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise ApiProblem(400, "Bad limit", f"`limit` must be a whole number from 1 to {MAX_LIMIT}.")
    return int(value)


def encode_position(sequence: int) -> str:
    """A cursor for a position in an ordered feed (the event feed), opaque like the id cursors."""
    return encode_cursor(f"pos_{sequence}")


def decode_position(cursor: str | None) -> int:
    """The feed position a cursor names; no cursor is the start of the feed."""
    if not cursor:
        return 0
    try:
        decoded = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    prefix, _, number = decoded.partition("_")
    if prefix != "pos" or not number.isdigit():
        raise ApiProblem(400, "Bad cursor", "Pass back the `next` value of the previous page unchanged.")
    return int(number)


class _Identified(Protocol):
    id: str


Row = TypeVar("Row", bound=_Identified)


def page_of(rows: Sequence[Row], limit: int, render: Callable[[Row], dict[str, Any]]) -> dict[str, Any]:
    """The answer for rows fetched with `limit + 1`: the first `limit` rendered, and the next page's cursor
    (None when the extra row shows there is no next page)."""
    shown = rows[:limit]
    next_cursor = encode_cursor(shown[-1].id) if len(rows) > limit else None
    return {"items": [render(row) for row in shown], "next": next_cursor}
