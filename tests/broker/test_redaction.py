"""Redaction of a platform's document: every URL in it loses its secret-looking query values, at any depth."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.redaction import REDACTED, redact_document, redact_secret_fields, redact_url
from tests.hostile_values import json_values, strings

URLS = st.sampled_from(
    ["https://lms.example.edu/jwks?key=s3cret", "https://lms.example.edu/x?a=1&token=t", "https://lms.example.edu/?"]
)


def test_a_list_of_urls_is_redacted_item_by_item() -> None:
    document = {"uris": ["https://lms.example.edu/a", "https://lms.example.edu/b?token=t"], "scopes": ["openid"]}
    assert redact_document(document) == {
        "uris": ["https://lms.example.edu/a", f"https://lms.example.edu/b?token={REDACTED}"],
        "scopes": ["openid"],
    }


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(st.lists(URLS | json_values, max_size=6))
def test_a_list_is_redacted_as_each_of_its_items_alone(items: list[Any]) -> None:
    redacted = redact_document({"list": items})["list"]
    assert redacted == [redact_document({"item": item})["item"] for item in items]
    assert redacted is not items


def _first_redact_value(value: Any) -> Any:
    """Redaction of a document's value as first written: every value walked, whatever it holds."""
    if isinstance(value, str) and value.startswith(("http://", "https://")) and "?" in value:
        return redact_url(value)
    if isinstance(value, dict):
        return {key: _first_redact_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_first_redact_value(item) for item in value]
    return value


def _first_redact_secret_fields(document: Any) -> Any:
    if isinstance(document, dict):
        secret = ("token", "secret", "password")
        return {
            key: REDACTED if key.lower().endswith(secret) else _first_redact_secret_fields(value)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [_first_redact_secret_fields(item) for item in document]
    return _first_redact_value(document)


def _same(left: Any, right: Any) -> bool:
    """Equal, and of the same types throughout (1, 1.0 and True are equal in Python, not in JSON)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(_same(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


# Names and texts near the fast checks' edges: secret words in any case and place (the Kelvin sign lowers to k),
# a quote and a colon inside names and values, queries in URLs and in plain text.
_EDGY_NAMES = st.sampled_from(
    ["registration_access_token", "id_token", "Client_Secret", "PASSWORD", "TO\u212aEN", "token_endpoint",
     'a"token', 'token":', "x token", "secretive", "key", "code"]
)
_EDGY_VALUES = URLS | st.sampled_from(
    ["id_token", 'token":', "https://lms.example.edu/a", "what?", "http://h/p?secret=1", "?", "https:/x?token=t",
     "\ud800", "a\\\"token\":"]
)
_DOCUMENTS = st.recursive(
    json_values | _EDGY_VALUES | st.floats(allow_nan=False),  # 1e400 reads as infinity
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_EDGY_NAMES | strings, inner, max_size=4),
    max_leaves=16,
)


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(st.dictionaries(_EDGY_NAMES | strings, _DOCUMENTS, max_size=5))
def test_redaction_agrees_with_its_first_form_on_any_json(document: dict[str, Any]) -> None:
    expected = {key: _first_redact_value(value) for key, value in document.items()}
    redacted = redact_document(document)
    assert _same(redacted, expected)
    assert redacted is not document
    fields = redact_secret_fields(document)
    expected_fields = _first_redact_secret_fields(document)
    assert _same(fields, expected_fields)
    assert fields is not document


@given(_DOCUMENTS)
@settings(max_examples=200, deadline=None, database=None, derandomize=True)
def test_secret_fields_agree_with_their_first_form_on_any_json_value(document: Any) -> None:
    expected = _first_redact_secret_fields(document)
    redacted = redact_secret_fields(document)
    assert _same(redacted, expected)


def test_a_document_with_nothing_to_redact_is_copied_not_shared() -> None:
    document = {"jwks_uri": "https://lms.example.edu/jwks", "scopes": ["openid"], "nested": {"a": [1, 2.5]}}
    for redacted in (redact_document(document), redact_secret_fields(document)):
        assert _same(redacted, document)
        assert redacted["scopes"] is not document["scopes"]
        assert redacted["nested"] is not document["nested"]
