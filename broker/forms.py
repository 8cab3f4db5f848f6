"""The text fields of a posted form, as the public pages (a launch's login and id_token post, the registration's
review and Verify forms) read them.

Platforms and browsers post these forms urlencoded, and a small one is read as the standard library's `parse_qsl`
reads it, in half the time of Starlette's parser (about 14 µs for a login's six fields instead of 28), to the same
fields (a name given twice keeps its last value, as in `FormData`); `parse_qsl`'s reading is done inline, as its
calls for each field (125 Python calls for a login's six, 58 now) cost more than the reading, and the escapes of
every field are decoded in one call. Anything else goes to Starlette's parser, which also refuses more than 1,000
fields and fields over 1 MiB: a body it refuses or cannot read is an `UnreadableForm` (a 400 page).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from broker.refusals import Refusal

_URLENCODED = re.compile(r"application/x-www-form-urlencoded\s*(;.*)?", re.IGNORECASE)
# A `%` that starts no escape (`unquote` keeps it as it is).
_NOT_AN_ESCAPE = re.compile("%(?![0-9A-Fa-f]{2})")
# Below Starlette's limit on one field's size, so a body this small holds no field it would refuse; its limit on
# the number of fields.
SMALL_FORM = 256 * 1024
MAX_FIELDS = 1000


class UnreadableForm(Refusal):
    status_code = 400
    title = "The form could not be read"
    next_step = "Go back to the page that showed the form and send it again."


async def form_fields(request: Request) -> Mapping[str, str]:
    """The posted text fields (files are left out); an `UnreadableForm` when the body is refused or broken."""
    if _URLENCODED.fullmatch(request.headers.get("content-type", "")):
        body = await request.body()
        if len(body) <= SMALL_FORM:
            text = body.decode("latin-1")
            if text.count("&") < MAX_FIELDS:
                return _urlencoded(text)
            # More fields than Starlette takes: its parser answers them.
    try:
        form = await request.form()
    except (HTTPException, MultiPartException) as error:  # HTTPException in an app, with the parser's message
        message = error.detail if isinstance(error, HTTPException) else error.message
        raise UnreadableForm(f"The form's body was refused: {message}") from error
    return {name: value for name, value in form.items() if isinstance(value, str)}


def _urlencoded(text: str) -> dict[str, str]:
    """The fields of `parse_qsl(text, keep_blank_values=True)`, the last value of each name: empty pieces between
    `&` are skipped, a piece with no `=` is a name with an empty value, `+` is a space, then escapes are decoded
    (as UTF-8, a bad one replaced)."""
    pairs = [pair.partition("=") for pair in text.replace("+", " ").split("&") if pair]
    if "%" not in text:
        return {name: value for name, _, value in pairs}
    if "\x00" in text or "%00" in text:
        return {unquote(name): unquote(value) for name, _, value in pairs}
    # A review form's field names are URLs full of escapes: one `unquote` of every name and value joined by NULs,
    # which no piece holds before or after decoding, in place of a call for each. The NUL also ends any UTF-8
    # sequence cut short, as the end of a piece does, so each piece decodes as it would alone.
    decoded = _unquoted("\x00".join([f"{name}\x00{value}" for name, _, value in pairs])).split("\x00")
    return dict(zip(decoded[::2], decoded[1::2], strict=True))


def _unquoted(text: str) -> str:
    """`unquote(text)`. ASCII text whose every `%` starts an escape is decoded by codecs, in C, where `unquote`
    loops in Python over the escapes (a login's two URLs hold twenty, a review form's names many more): each
    `%XX` made `\\xXX` (backslashes doubled first, so that no other escape is read) reads as the byte XX, and the
    bytes as UTF-8, a bad sequence replaced."""
    if not text.isascii() or _NOT_AN_ESCAPE.search(text) is not None:
        return unquote(text)
    escaped = text.replace("\\", "\\\\").replace("%", "\\x").encode()
    return escaped.decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
