"""Redaction of secrets that platforms put in URLs (registration tokens ride in query strings)."""

from __future__ import annotations

import re
from itertools import repeat
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic_core import PydanticSerializationError, from_json, to_json

REDACTED = "[redacted]"
_SECRET_WORDS = ("token", "secret", "password", "key", "signature", "code")
# Field names end so: narrower than query names, as documents have fields such as `token_endpoint` to keep.
_SECRET_FIELD_ENDINGS = ("token", "secret", "password")


def redact_url(url: str, *, all_values: bool = False) -> str:
    """The URL with the values of secret-looking query parameters (or of all of them) replaced."""
    if "?" not in url:
        return url  # no query to redact; most URLs, and splitting them was most of the cost of showing them
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [
        (name, REDACTED if all_values or _is_secret(name) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="[]")))


def redact_document(document: dict[str, Any]) -> dict[str, Any]:
    """A platform document with secret-looking query values removed from every URL it holds."""
    text = _json_text(document)
    if text is not None and b"?" not in text:
        # No string holds a query, so no URL has one to redact: the copy is the document read back, in C.
        copy: dict[str, Any] = from_json(text)
        return copy
    return _redact_mapping(document)


def redact_secret_fields(document: Any) -> Any:
    """A JSON document with the values of secret-looking keys (such as `registration_access_token`) replaced,
    at any depth, and secret query values removed from its URLs."""
    text = _json_text(document)
    if text is not None and b"?" not in text and not _SECRET_FIELD_KEY.search(text.decode().lower()):
        # No query and no key with a secret's name: nothing to redact, so the copy is made in C.
        return from_json(text)
    return _redact_fields(document)


# A member whose name ends in a secret's word, in compact JSON: the name's last letters, its closing quote and
# the colon (a quote inside a string is escaped, so a string value never ends this way).
_SECRET_FIELD_KEY = re.compile(f'(?:{"|".join(_SECRET_FIELD_ENDINGS)})":')


def _json_text(document: Any) -> bytes | None:
    """The document as compact JSON, which reads back as an equal copy; None when it holds what JSON cannot
    write (a lone surrogate, which only the walk below copies)."""
    try:
        return to_json(document)
    except PydanticSerializationError:
        return None


def _redact_mapping(document: dict[str, Any]) -> dict[str, Any]:
    return {key: _redact_value(value) for key, value in document.items()}


def _redact_fields(document: Any) -> Any:
    if isinstance(document, dict):
        return {key: REDACTED if _is_secret_field(key) else _redact_fields(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_redact_fields(item) for item in document]
    return _redact_value(document)


def _is_secret_field(name: str) -> bool:
    return name.lower().endswith(_SECRET_FIELD_ENDINGS)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(("http://", "https://")) and "?" in value:
        return redact_url(value)
    if isinstance(value, dict):
        return _redact_mapping(value)
    if isinstance(value, list):
        if all(map(isinstance, value, repeat(str))) and "?" not in "".join(value):
            return list(value)  # strings without a query (scopes, claims): nothing to redact, checked in C
        return [_redact_value(item) for item in value]
    return value


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


# Secrets by their shape, wherever they stand in a free text such as a log line.
# An OAuth `code` is one, a `product_family_code` is not.
_SECRET_NAME = r"[\w.-]*(?:token|secret|password|key|signature|assertion)[\w.-]*|code"  # noqa: S105 - a pattern
# Field names: narrower than parameter names (`token_endpoint` stays), plus a JWK's private parameters.
_SECRET_FIELD = r"[\w-]*(?:token|secret|password|assertion|key)|d|p|q|dp|dq|qi|k"  # noqa: S105 - a pattern
_TEXT_RULES = (
    # PEM private keys, whole.
    (
        re.compile(r"-----BEGIN ([A-Z ]*PRIVATE KEY)-----.*?-----END \1-----", re.S),
        rf"-----BEGIN \1-----{REDACTED}-----END \1-----",
    ),
    # JWS and JWE compact serialisations (id_tokens, client assertions, launch tokens, Canvas registration tokens).
    (re.compile(r"\beyJ[\w-]*(?:\.[\w-]*){2,4}"), REDACTED),
    # Credentials after an authorization scheme, as in a header.
    (re.compile(r"\b(Bearer|Basic)(\s+)[\w.~+/=-]+", re.I), rf"\1\2{REDACTED}"),
    # The broker's own secrets (API keys, webhook secrets), which carry a prefix.
    (re.compile(r"\b(lbk|whsec)_[\w+/=-]+"), rf"\1_{REDACTED}"),
    # name=value with a secret-looking name: a query or form parameter, also inside a URL-encoded URL.
    (re.compile(rf"(?i)\b((?:{_SECRET_NAME}))(=|%3D|%253D)(?:(?!%26|%2526)[^&\s\"'<>#])+"), rf"\1\2{REDACTED}"),
    # "name": "value" in JSON or a Python repr, for secret fields and a JWK's private parameters.
    (
        re.compile(rf"""(?i)(["'])({_SECRET_FIELD})\1(\s*:\s*)(["'])(?:\\.|(?!\4).)*\4"""),
        rf"\1\2\1\3\4{REDACTED}\4",
    ),
)


# What each rule above needs somewhere in the text before it can match. Most log text (a request's method, path
# and address, a plain message) has none of it, and one search is far cheaper than every rule's. Each branch
# starts with one character of its own case, so that the search skips in C to the places where one of them
# stands (with IGNORECASE or a class first it tries every branch at every character: 2.5 µs for an access
# line's 50 characters, 0.3 now). Nothing in it looks past the text it finds, so a search of texts joined by a
# line break finds what a search of each would.
_MAYBE_SECRET = re.compile(
    r"""=|%(?:25)?3[Dd]|-----BEGIN|eyJ|B(?i:earer|asic)|b(?i:earer|asic)|lbk_|whsec_|"\s*:|'\s*:"""
)


def may_hold_secret(text: str) -> bool:
    """Whether `redact_text` could change the text; when not, it would return it as it is."""
    return _MAYBE_SECRET.search(text) is not None


def redact_text(text: str) -> str:
    """The text with anything shaped like a secret replaced: private keys, JWTs, credentials after `Bearer`,
    the broker's prefixed keys, and the values of secret-looking parameters and fields."""
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern, replacement in _TEXT_RULES:
        text = pattern.sub(replacement, text)
    return text
