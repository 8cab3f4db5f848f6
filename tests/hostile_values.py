"""Hypothesis strategies for what a hostile platform or caller writes: short odd strings (NUL, control
characters, any plane), strings longer than any column, and JSON of every shape built from them."""

from __future__ import annotations

from hypothesis import strategies as st

strings = st.one_of(
    st.text(max_size=12),
    st.builds(lambda piece, count: piece * count, st.sampled_from(["a", "\x00", "é", "/", "%"]), st.integers(0, 2100)),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), strings)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(strings, inner, max_size=4)),
    max_leaves=12,
)


def member_changes(names: list[str]) -> st.SearchStrategy[dict[str, object]]:
    """A few members of a JSON object replaced or added: known names (from `names`) or any, any value."""
    return st.dictionaries(st.sampled_from(names) | strings, json_values, max_size=3)
