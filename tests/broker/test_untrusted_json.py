"""JSON from outside: any input gives a value or a ValueError, never RecursionError or NaN."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker import untrusted_json
from broker.untrusted_json import MAX_DEPTH, UntrustedJSONError


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    "document",
    [nested(1500), nested_objects(1500), nested(100_000), nested(MAX_DEPTH + 1), nested_objects(MAX_DEPTH + 1)],
    ids=["3-KB-arrays", "objects", "100-KB", "one-past-the-limit", "objects-one-past"],
)
def test_deep_nesting_is_a_value_error(document: str) -> None:
    with pytest.raises(UntrustedJSONError, match="nested more than"):
        untrusted_json.loads(document)
    with pytest.raises(ValueError, match="nested more than"):
        untrusted_json.loads(document.encode())


def test_nesting_up_to_the_limit_is_read() -> None:
    assert untrusted_json.loads(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))
    assert untrusted_json.loads(nested_objects(MAX_DEPTH).encode()) == json.loads(nested_objects(MAX_DEPTH))


def test_many_shallow_containers_are_read() -> None:
    document = json.dumps({"keys": [{"kid": str(n), "alg": ["RS256"]} for n in range(500)]})

    assert len(untrusted_json.loads(document)["keys"]) == 500


@pytest.mark.parametrize("document", ["NaN", '{"exp": Infinity}', "[-Infinity]"])
def test_non_standard_constants_are_refused(document: str) -> None:
    with pytest.raises(UntrustedJSONError, match="not a JSON value"):
        untrusted_json.loads(document)


@pytest.mark.parametrize("document", ["", "{", "[1,]", b"\xff\xfe", "1" * 5000])
def test_invalid_json_is_a_value_error(document: str | bytes) -> None:
    with pytest.raises(ValueError):
        untrusted_json.loads(document)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32-be"])
def test_bytes_are_read_in_the_utf_encoding_they_start_with(encoding: str) -> None:
    document = '{"client_id": "é\U0001f600", "scope": ["a", 1.5, null]}'

    assert untrusted_json.loads(document.encode(encoding)) == json.loads(document)
    assert untrusted_json.loads(bytearray(document.encode(encoding))) == json.loads(document)


def test_a_text_starting_with_a_byte_order_mark_is_refused() -> None:
    with pytest.raises(UntrustedJSONError, match="BOM"):
        untrusted_json.loads('\ufeff{"client_id": "a"}')


def test_each_document_is_read_on_its_own() -> None:
    # One decoder serves every call: nothing of a document read before (nor of a refused one) carries over.
    with pytest.raises(UntrustedJSONError):
        untrusted_json.loads('{"a": NaN}')

    assert untrusted_json.loads('{"a": 1}') == {"a": 1}
    assert untrusted_json.loads(b'{"b": [2]}') == {"b": [2]}


# Bytes as JSON documents start: an object's brace, then NULs, byte order marks, broken UTF-8, anything.
_documents = st.lists(
    st.one_of(st.sampled_from([b"{", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xed\xa0\x80", b'"a"']),
              st.binary(max_size=3)),
    max_size=6,
).map(b"".join)  # fmt: skip


@settings(max_examples=500, deadline=None, database=None, derandomize=True)
@given(document=_documents)
def test_bytes_are_decoded_as_json_loads_decodes_them(document: bytes) -> None:
    def decoded(read: object) -> object:
        try:
            return read()  # type: ignore[operator]
        except UnicodeDecodeError:
            return UnicodeDecodeError

    expected = decoded(lambda: document.decode(json.detect_encoding(document), "surrogatepass"))
    assert decoded(lambda: untrusted_json.text_of(document)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["openid", ""], True),
        ([], True),
        (["openid", 1], False),
        (["openid", None], False),
        (("openid",), False),  # JSON arrays are read as lists
        ("openid", False),
        ({"openid": "x"}, False),
        (None, False),
    ],
)
def test_a_string_list_is_a_list_holding_strings_only(value: object, expected: bool) -> None:
    assert untrusted_json.is_string_list(value) is expected
