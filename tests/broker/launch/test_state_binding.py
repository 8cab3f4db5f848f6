"""Binding a launch to the browser: its state's cookie proves it; a cookie-keeping browser without it is refused;
a browser that keeps no cookies is accepted on the signed single-use state alone."""

from __future__ import annotations

from broker.launch.state_binding import (
    MARKER_COOKIE,
    browser_started_login,
    set_cookie_header,
    state_cookie_name,
)

DIGEST = "ab" * 32


def test_the_state_cookie_proves_the_binding() -> None:
    assert browser_started_login({state_cookie_name(DIGEST): "1", MARKER_COOKIE: "1"}, DIGEST)


def test_a_browser_that_keeps_no_cookies_is_trusted_on_the_state_alone() -> None:
    assert browser_started_login({}, DIGEST)


def test_a_cookie_keeping_browser_without_this_states_cookie_did_not_start_the_login() -> None:
    other = state_cookie_name("cd" * 32)
    assert not browser_started_login({MARKER_COOKIE: "1", other: "1"}, DIGEST)


def test_the_cookie_is_named_by_a_digest_prefix_never_the_state() -> None:
    name = state_cookie_name(DIGEST)
    assert name.endswith(DIGEST[:24]) and DIGEST not in name


def test_cookies_are_cross_site_partitioned_and_scoped_to_the_tenant() -> None:
    header = set_cookie_header("lti_cookies", "/t/acme", 60)
    assert header == "lti_cookies=1; Max-Age=60; Path=/t/acme/lti/; Secure; HttpOnly; SameSite=None; Partitioned"
    on_its_host = set_cookie_header("lti_cookies", "", 60)
    assert on_its_host == "lti_cookies=1; Max-Age=60; Path=/lti/; Secure; HttpOnly; SameSite=None; Partitioned"
