"""JSON from outside the broker (platforms, tenants, callers), read with limits that a hostile document cannot pass.

`json.loads` nests Python calls per nesting level: a few kilobytes of brackets raise RecursionError (a 500),
and a document nested just below that breaks whatever walks it later (storing, redacting, rendering).
`loads` refuses both, and the non-standard constants NaN and Infinity, as ValueError like any bad JSON.
"""

from __future__ import annotations

import json
from itertools import repeat
from typing import Any, TypeGuard

MAX_DEPTH = 64
"""Deeper than any LTI document, JWKS or token answer needs, far below Python's recursion limit."""


class UntrustedJSONError(ValueError):
    """The document is not JSON the broker accepts."""


def _refuse_constant(name: str) -> Any:
    raise UntrustedJSONError(f"{name} is not a JSON value")


# Made once: json.loads given any option builds a decoder and its scanner on every call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def is_string_list(value: Any) -> TypeGuard[list[str]]:
    """Whether a parsed value is an array of strings. Each item is checked by a map, in C, where a generator is a
    Python call an item: documents' lists (scopes, claims, roles, audiences) are read on hot paths."""
    return isinstance(value, list) and all(map(isinstance, value, repeat(str)))


def loads(document: str | bytes | bytearray) -> Any:
    """The parsed document, or UntrustedJSONError (a ValueError) if it is invalid, nested deeper than
    MAX_DEPTH, or uses NaN or Infinity."""
    try:
        value = _DECODER.decode(_text(document))
    except RecursionError as exc:
        raise UntrustedJSONError(f"the JSON is nested more than {MAX_DEPTH} levels deep") from exc
    except ValueError as exc:
        raise UntrustedJSONError(str(exc)) from exc
    if _may_be_deep(document) and _depth(value) > MAX_DEPTH:
        raise UntrustedJSONError(f"the JSON is nested more than {MAX_DEPTH} levels deep")
    return value


def _text(document: str | bytes | bytearray) -> str:
    """The document's text as json.loads reads it: bytes in the UTF encoding they start with, and a text that
    starts with a byte order mark refused."""
    if isinstance(document, str):
        if document.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", document, 0)
        return document
    return text_of(document)


def text_of(document: bytes | bytearray) -> str:
    """The text of a JSON document's bytes, as json.loads decodes them: in the UTF encoding they start with."""
    # An object's `{` then a byte that is not NUL: UTF-8 for json.detect_encoding, told here without its ten calls.
    if document[:1] == b"{" and document[1:2] != b"\x00":
        return document.decode("utf-8", "surrogatepass")
    return document.decode(json.detect_encoding(document), "surrogatepass")


def _may_be_deep(document: str | bytes | bytearray) -> bool:
    # Counting openers is cheap and settles almost every real document without walking it.
    if isinstance(document, str):
        return document.count("[") + document.count("{") > MAX_DEPTH
    return document.count(b"[") + document.count(b"{") > MAX_DEPTH


def _depth(value: Any) -> int:
    """The nesting depth of arrays and objects, walked without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        pending.extend((child, depth + 1) for child in children)
    return deepest
