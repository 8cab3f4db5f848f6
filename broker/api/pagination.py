"""Opaque cursors over time-sortable ids."""

from __future__ import annotations

import base64
import binascii

from broker.api.problems import ApiProblem

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise ApiProblem(400, "Bad cursor", "Pass back the `next` value of the previous page unchanged.") from error


def parse_limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise ApiProblem(400, "Bad limit", f"`limit` must be a whole number from 1 to {MAX_LIMIT}.")
    return int(value)
