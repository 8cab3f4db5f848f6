"""The plain-URL shortcut of the registration's URL checks: a URL it accepts reads, by one match, as urlsplit reads
it, and every check that takes the shortcut decides as its full rules do, on any text near a URL's shape."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker import stored_text
from broker.registration.platform_configuration import (
    _ANY,
    _SECURE,
    PLAIN_HTTP_URL,
    PlatformConfigurationError,
    _endpoint,
    _issuer,
    _split,
    url_host,
)
from broker.registration.profiles.generic import _WHITESPACE, is_http_url

PROPERTIES = settings(max_examples=1500, deadline=None, database=None, derandomize=True)
# Pieces of URLs, odd ones among them: schemes in any case, credentials, ports good and bad, brackets, escapes,
# fragments, whitespace and controls urlsplit strips, non-ASCII letters and digits that NFKC changes.
_PIECES = st.sampled_from(
    ["https", "http", "HTTPS", "ftp", "://", ":", "/", "//", "?", "#", "@", "user:pw@", "[", "]", "[::1]", "%",
     "%41", ".", "-", "_", "~", "a", "B", "0", "lms.example.edu", ":443", ":99999", ":x", " ", "\t", "\n", "\x00",
     "é", "\uff0f", "\u2474", "\\", ";", "=", "&", "+", "'", "!"]
)
_SCHEMES = st.sampled_from(["https", "http", "https", "http", "https", "http", "HTTPS", "ftp", "", "https:"])
_SEPARATORS = st.sampled_from(["://"] * 8 + [":/", ":///", "//"])
# Mostly nothing: most near-plain URLs below are plain, the rest plain but for one or two pieces.
_ODD = st.sampled_from(
    [""] * 60 + ["#", "#x", "?", "@", ":", "[", "]", " ", "\t", "\x00", "é", "\uff0f", "%", "\\", "//"]
)
_HOST = st.lists(st.sampled_from(["a", "B", "0", ".", "-", "lms.example.edu"]), min_size=1, max_size=3).map("".join)
_PORTS = st.sampled_from(["", "", ":", ":443", ":0", ":99999", ":x"])
_PATH = st.lists(
    st.sampled_from(["/", "a", "B", "0", ".", "-", "_", "~", "%41", "=", "&", "+", ";", "!", "'", ":", "@"]), max_size=5
).map("".join)
_QUERIES = st.sampled_from(["", "", "?", "?q=", "??", "?/a"])
# Near-plain URLs: scheme, host, port, path and query, with an odd piece maybe between each and the next.
_URLS = st.tuples(
    _SCHEMES, _SEPARATORS, _ODD, _HOST, _ODD, _PORTS, _ODD, _PATH, _ODD, _QUERIES, _PATH, _ODD
).map("".join)
_TEXTS = st.one_of(_URLS, st.lists(_PIECES, max_size=12).map("".join), st.text(max_size=20))


def _first_is_http_url(value: str) -> bool:
    if not value or _WHITESPACE.search(value):
        return False
    parts = _split(value)
    return parts is not None and parts.scheme in {"http", "https"} and bool(parts.hostname) and not parts.fragment


def _outcome(check: object, *arguments: object) -> object:
    try:
        return check(*arguments)  # type: ignore[operator]
    except PlatformConfigurationError as error:
        return (error.field, error.reason)


def _first_endpoint(value: str, schemes: frozenset[str]) -> object:
    parts = _split(value)
    if parts is None or parts.scheme not in schemes or not parts.hostname or parts.fragment:
        return ("jwks_uri", "must be an absolute https URL without a fragment")
    return value


def _first_issuer(issuer: str, schemes: frozenset[str]) -> object:
    parts = _split(issuer)
    host = parts.hostname if parts is not None else None
    if parts is None or parts.scheme not in schemes or not host:
        return ("issuer", "must be an absolute https URL")
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
        return ("issuer", "must not have a query or a fragment")
    return issuer, host


# Each a piece away from a plain URL, or plain but for one piece.
_NEAR_PLAIN = [
    "https://lms.example.edu/a/b?c=d&e=f", "http://a:8080", "https://a?x", "https://a/#x", "https://a/b#",
    "https://a#x", "https://a/ b", "https://a/b ", " https://a/", "https://a/\tb", "https://a\n/", "ftp://a/",
    "HTTPS://a/", "https:/a",
    "https://a@b/", "https://a/@b", "https://a:1:2/", "https://a:x/", "https://[::1]/", "https://a]/", "https://é.com/",
    "https://a/é", "https://a/\uff0f", "https://a\uff0fb/", "https://a/%", "https://a/\\b", "https://", "https://?",
]


@pytest.mark.parametrize("text", _NEAR_PLAIN)
def test_near_plain_urls_read_and_decide_as_the_full_rules(text: str) -> None:
    _reads_as_urlsplit_reads_it(text)
    _decides_as_the_full_rules(text)


@PROPERTIES
@given(_TEXTS)
def test_a_plain_url_reads_as_urlsplit_reads_it(text: str) -> None:
    _reads_as_urlsplit_reads_it(text)


@PROPERTIES
@given(_TEXTS)
def test_the_url_checks_decide_as_their_full_rules(text: str) -> None:
    _decides_as_the_full_rules(text)


def _reads_as_urlsplit_reads_it(text: str) -> None:
    plain = PLAIN_HTTP_URL.fullmatch(text)
    if plain is None:
        return
    parts = urlsplit(text)
    assert (parts.scheme, parts.hostname, parts.fragment) == (plain[1], plain[2].lower(), "")
    assert parts.query == (plain[4] or "")[1:]
    assert not _WHITESPACE.search(text)


def _decides_as_the_full_rules(text: str) -> None:
    assert is_http_url(text) == _first_is_http_url(text)
    # Text that cannot be stored is refused before it is read as a URL.
    problem = stored_text.problem(text, stored_text.URL_LENGTH) if text else None
    for schemes in (_SECURE, _ANY):
        if text:
            endpoint = ("jwks_uri", problem) if problem else _first_endpoint(text, schemes)
            assert _outcome(_endpoint, {"jwks_uri": text}, "jwks_uri", schemes) == endpoint
            issuer = ("issuer", problem) if problem else _first_issuer(text, schemes)
            assert _outcome(_issuer, {"issuer": text}, schemes) == issuer
    parts = _split(text)
    if parts is not None:
        assert url_host(text) == (parts.hostname or "")
