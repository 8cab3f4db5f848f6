"""Redaction of a platform's document: every URL in it loses its secret-looking query values, at any depth."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.redaction import REDACTED, redact_document
from tests.hostile_values import json_values

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
