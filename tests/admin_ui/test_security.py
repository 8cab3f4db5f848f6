"""Console cookies and limits: Secure and host-only away from loopback, HttpOnly and SameSite=Lax always; forms
have a size cap; every page forbids framing and inline script, every form post needs the CSRF token; the
registration pages keep their own framable policy."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
from starlette.responses import Response

from admin_ui import accounts, operator
from admin_ui.security import MAX_FORM_BYTES, session_cookie, start_session
from broker.services import Services
from broker.settings import Settings
from tests.admin_ui.conftest import PASSWORD, Browser
from tests.admin_ui.console_routes import console_requests, owner_with_everything
from tests.conftest import RunningBroker
from tests.smtp import Mailbox

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


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


async def test_every_page_forbids_framing_and_runs_no_inline_script(
    browser: Browser, mailbox: Mailbox, http: httpx.AsyncClient, console_broker: RunningBroker
) -> None:
    owner, ids = await owner_with_everything(browser, mailbox, http, console_broker)
    console_pages = [path for method, path in console_requests(owner.slug, ids) if method == "GET"]
    for path in (*console_pages, "/account", "/", "/signup", "/login", "/reset-password", "/admin/login"):
        page = await browser.get(path)
        assert page.status_code == 200, path
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "unsafe-" not in policy, path
        assert not INLINE_SCRIPT.search(page.text) and not EVENT_HANDLER.search(page.text), path


async def test_every_form_post_with_a_forged_csrf_token_is_refused_and_changes_nothing(
    browser: Browser, mailbox: Mailbox, http: httpx.AsyncClient, console_broker: RunningBroker, services: Services
) -> None:
    owner, ids = await owner_with_everything(browser, mailbox, http, console_broker)
    before = await services.tenants.get_by_slug(owner.slug)
    assert before is not None
    posts = [path for method, path in console_requests(owner.slug, ids) if method == "POST"]
    posts += [route.path.replace("{slug}", owner.slug).replace("{action:str}", "suspend")
              for route in (*accounts.routes, *operator.routes) if "POST" in (route.methods or ())]  # fmt: skip
    assert len(posts) >= 21, "every form route of the consoles and the account pages"
    for path in posts:
        form = {"name": "forged", "url": "https://attacker.example/", "email": "eve@attacker.example",
                "role": "owner", "password": PASSWORD}  # fmt: skip
        answer = await browser.post(path, form, csrf="forged")
        assert answer.status_code == 403 and "came from another site" in answer.text, path
    after = await services.tenants.get_by_slug(owner.slug)
    assert after is not None and after.webhook_url == before.webhook_url and after.name == before.name
    assert await services.tenants.authenticate(owner.api_key) is not None
    assert (await browser.get(f"/console/{owner.slug}/")).status_code == 200, "still signed in"
