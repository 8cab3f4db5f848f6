"""The pure parts of the token service: the scope set a token is cached under, and how long it is handed out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from broker.tokens.errors import BadScopes
from broker.tokens.service import _usable_until, normalize_scopes, scope_key

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_scopes_are_a_sorted_set() -> None:
    assert normalize_scopes(["b", "a", "b"]) == ("a", "b")
    assert scope_key(normalize_scopes(["b", "a"])) == scope_key(normalize_scopes(["a", "b", "a"]))


@pytest.mark.parametrize("value", [None, "a b", [], [""], ["a b"], [7], ["x" * 1025], ["s"] * 0])
def test_bad_scopes_are_refused(value: object) -> None:
    with pytest.raises(BadScopes) as caught:
        normalize_scopes(value)
    assert caught.value.status_code == 400


def test_a_token_is_handed_out_until_a_minute_before_it_expires() -> None:
    assert _usable_until(NOW, 3600) == NOW + timedelta(seconds=3540)


def test_a_short_lived_token_keeps_half_its_life() -> None:
    assert _usable_until(NOW, 60) == NOW + timedelta(seconds=30)
