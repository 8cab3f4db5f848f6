"""The launch routes read a posted form with the standard library where it is small and urlencoded: any body gives
the fields Starlette's own parser gives, and what that parser refuses still goes to it; the headers they read are
those Starlette's `Headers` gives."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from broker.forms import MAX_FIELDS, UnreadableForm, _unquoted, form_fields
from broker.launch.routes import _PROOF_HEADERS, _SOURCE_HEADERS, _headers

URLENCODED = "application/x-www-form-urlencoded"
# What form bodies hold: separators, escapes (valid or not, of UTF-8 or not, a UTF-8 sequence cut short or split
# between fields, a NUL), plus signs, backslashes and what Python would read as its escapes, any other character.
ESCAPES = ["%2B", "%20", "%e2%82%ac", "%ff", "%zz", "%c3", "%a9", "%26", "%3D", "%00", "\x00"]
ESCAPES += ["\\", "%5C", "\\x41", "%5Cx41", "\\u00e9", "\\N{DASH}", "%2", "é"]
form_bodies = st.lists(
    st.one_of(st.sampled_from(["&", "=", "+", "%", ";", *ESCAPES]), st.text(max_size=4)),
    max_size=30,
).map("".join)


def request(body: bytes, content_type: str = URLENCODED) -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", content_type.encode())]}
    return Request(scope, receive)


def fields(body: bytes, content_type: str = URLENCODED) -> dict[str, str]:
    return dict(asyncio.run(form_fields(request(body, content_type))))


def starlettes(body: bytes) -> dict[str, str]:
    async def parse() -> dict[str, str]:
        form = await request(body).form()
        return {name: value for name, value in form.items() if isinstance(value, str)}

    return asyncio.run(parse())


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(body=form_bodies)
def test_a_urlencoded_body_gives_the_fields_starlette_gives(body: str) -> None:
    assert fields(body.encode()) == starlettes(body.encode())


@settings(max_examples=500, deadline=None, database=None, derandomize=True)
@given(text=form_bodies)
def test_escapes_are_decoded_as_unquote_decodes_them(text: str) -> None:
    assert _unquoted(text) == unquote(text)


def test_a_name_given_twice_keeps_its_last_value_and_other_types_go_to_starlette() -> None:
    assert fields(b"state=one&state=two&id_token=a+b%2Bc") == {"state": "two", "id_token": "a b+c"}
    assert fields(b"state=one", "application/x-www-form-urlencoded; charset=UTF-8") == {"state": "one"}
    multipart = b'--b\r\nContent-Disposition: form-data; name="state"\r\n\r\none\r\n--b--\r\n'
    assert fields(multipart, "multipart/form-data; boundary=b") == {"state": "one"}


@pytest.mark.parametrize(
    "body",
    [
        # A review form's names: URLs of escapes; a UTF-8 sequence cut at a field's end and one cut at its start.
        "scope%3Ahttps%3A%2F%2Fpurl.example%2Fscore=1&cut=%c3&%a9=%e2%82%ac&sign=a%2Bb+c&%26=%3D",
        "nul=%00&%c3=x&raw=\x00%41",  # a NUL, escaped or not, among the fields
        "login=https%3A%2F%2Flms.example%2F%E2%82%AC&path=a%5Cb%5cx41\\x42\\&last=%C3",  # backslashes among escapes
    ],
)
def test_each_field_is_decoded_as_parse_qsl_decodes_it(body: str) -> None:
    assert fields(body.encode()) == dict(parse_qsl(body, keep_blank_values=True))


def test_more_fields_than_starlette_takes_are_left_to_its_parser() -> None:
    body = "&".join(f"f{number}=1" for number in range(MAX_FIELDS + 1)).encode()
    with pytest.raises(UnreadableForm, match="Too many fields"):  # a 400 page in a running app
        fields(body)


_header_names = st.sampled_from([b"origin", b"referer", b"sec-fetch-dest", b"sec-fetch-site", b"host"])
_header_values = st.sampled_from([b"https://lms.example", b"iframe", b"same-origin", b"", b"caf\xe9"])


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(raw=st.lists(st.tuples(_header_names, _header_values), max_size=6))
def test_the_headers_a_launch_reads_are_those_starlette_gives(raw: list[tuple[bytes, bytes]]) -> None:
    incoming = Request({"type": "http", "method": "POST", "headers": raw})
    for names in (_SOURCE_HEADERS, _PROOF_HEADERS):
        found = _headers(incoming, names)
        for name in names:
            assert found.get(name.decode()) == incoming.headers.get(name.decode())
