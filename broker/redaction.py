"""Redaction of secrets that platforms put in URLs (registration tokens ride in query strings)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"
_SECRET_WORDS = ("token", "secret", "password", "key", "signature", "code")


def redact_url(url: str, *, all_values: bool = False) -> str:
    """The URL with the values of secret-looking query parameters (or of all of them) replaced."""
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
    return {key: _redact_value(value) for key, value in document.items()}


def redact_secret_fields(document: Any) -> Any:
    """A JSON document with the values of secret-looking keys (such as `registration_access_token`) replaced,
    at any depth, and secret query values removed from its URLs."""
    if isinstance(document, dict):
        return {
            key: REDACTED if _is_secret_field(key) else redact_secret_fields(value) for key, value in document.items()
        }
    if isinstance(document, list):
        return [redact_secret_fields(item) for item in document]
    return _redact_value(document)


def _is_secret_field(name: str) -> bool:
    # Narrower than query names: documents have fields such as `token_endpoint` and `jwks_uri` to keep.
    lowered = name.lower()
    return lowered.endswith(("token", "secret", "password"))


def _redact_value(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(("http://", "https://")) and "?" in value:
        return redact_url(value)
    if isinstance(value, dict):
        return redact_document(value)
    if isinstance(value, list):
        return [_redact_value(item) for item in value]
    return value


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)
