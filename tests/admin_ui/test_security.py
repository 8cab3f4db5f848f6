"""Console cookies and limits: Secure and host-only away from loopback, HttpOnly and SameSite=Lax always; forms
have a size cap; registration pages keep their own framable policy."""

from __future__ import annotations

from dataclasses import replace

from starlette.responses import Response

from admin_ui.security import MAX_FORM_BYTES, session_cookie, start_session
from broker.settings import Settings
from tests.admin_ui.conftest import Browser
from tests.conftest import RunningBroker


def test_the_session_cookie_is_secure_and_host_only_away_from_loopback() -> None:
    settings = replace(Settings(), base_url="https://lti.example.com")
    response = Response()
    start_session(response, settings, "token")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-broker_session=token;")
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert flag in cookie
    assert "Domain" not in cookie
    assert session_cookie(replace(settings, base_url="http://localhost:8000")) == "broker_session"


async def test_an_oversized_form_is_refused_before_it_is_read(browser: Browser) -> None:
    page = await browser.post("/login", {"email": "a@example.com", "password": "x" * (MAX_FORM_BYTES + 10)})
    assert page.status_code == 413 and "too large" in page.text


async def test_registration_pages_keep_their_framable_policy(console_broker: RunningBroker, browser: Browser) -> None:
    page = await browser.get("/t/no-such-tenant/lti/register")
    assert "frame-ancestors 'none'" not in page.headers.get("content-security-policy", "")
    assert "csrftoken" not in page.headers.get("set-cookie", "")
