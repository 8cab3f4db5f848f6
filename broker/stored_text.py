"""Text from outside the broker that it stores or looks up: the lengths and characters both engines hold.

PostgreSQL refuses a value longer than its column and a NUL character in any text, even in a query's
condition, where SQLite takes both. Checking here, before anything is stored (and before a platform is
called, wherever the value is known by then), gives the same clear answer on both engines.
"""

from __future__ import annotations

import re

URL_LENGTH = 2000
"""Every URL column: a platform's issuer and endpoints, a configuration URL, a webhook URL."""

IDENTIFIER_LENGTH = 255
"""A platform's identifiers: client_id, deployment_id."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NUL = "\x00"
_REPLACEMENT = "\ufffd"


def problem(value: str, max_length: int | None = None) -> str | None:
    """Why `value` cannot be kept in a column of `max_length` characters (or in a text column, for None),
    or None when it can.

    Control characters are refused along with NUL: no URL, identifier, token or product name has one, and
    they would reach pages and logs otherwise.
    """
    if max_length is not None and len(value) > max_length:
        return f"is longer than {max_length} characters"
    if _CONTROL.search(value):
        return "contains control characters"
    return None


def record(text: str, max_length: int | None = None) -> str:
    """Free text kept as a record (a platform's raw answer, its error message): NUL characters, which
    PostgreSQL cannot hold, become U+FFFD, and text beyond `max_length` is cut, so keeping it never fails."""
    text = text.replace(_NUL, _REPLACEMENT)
    if max_length is not None and len(text) > max_length:
        return text[: max_length - 1] + "…"
    return text
