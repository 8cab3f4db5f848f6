"""Sign-up, e-mail confirmation, sign-in and out, password reset and change, over HTTP with a real SMTP server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update

from broker.database import utcnow
from broker.services import Services
from tenants.accounts.models import AccountLink
from tenants.accounts.service import MAX_FAILED_SIGN_INS
from tests.admin_ui.conftest import (
    PASSWORD,
    Browser,
    path_of,
    sign_in,
    sign_up,
    signed_in_owner,
    token_of,
    unique_email,
    verify,
)
from tests.conftest import unique_slug
from tests.smtp import Mailbox, link_in

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def test_the_front_page_says_what_the_broker_is_and_offers_sign_up(browser: Browser) -> None:
    page = await browser.get("/")
    assert page.status_code == 200
    assert "Dynamic Registration" in page.text and 'href="/signup"' in page.text and 'href="/login"' in page.text
    assert "/api/v1/openapi.json" in page.text
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy and "script-src 'sha256-" in policy


async def test_sign_up_confirm_and_sign_in_reach_the_console(browser: Browser, mailbox: Mailbox) -> None:
    owner = await sign_up(browser, name=PAYLOAD)
    refused = await sign_in(browser, owner.email)
    assert refused.status_code == 403 and "Confirm your e-mail address first" in refused.text
    assert "Send the confirmation link again" in refused.text

    link = link_in(await mailbox.async_wait_for(owner.email, "Confirm"), "/verify-email")
    shown = await browser.get(path_of(link))
    assert shown.status_code == 200 and "Confirm my address" in shown.text, "opening the link spends nothing"
    await verify(browser, mailbox, owner.email)

    before = browser.session
    answer = await sign_in(browser, owner.email)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Secure" not in cookie
    assert browser.session and browser.session != before

    console = await browser.get("/console/")
    assert console.status_code == 303 and console.headers["location"] == f"/console/{owner.slug}/"
    overview = await browser.get(f"/console/{owner.slug}/")
    assert overview.status_code == 200
    assert f"/t/{owner.slug}/lti/register" in overview.text
    assert PAYLOAD not in overview.text and "&lt;script&gt;" in overview.text
    assert "frame-ancestors 'none'" in overview.headers["content-security-policy"]
    assert overview.headers["cache-control"] == "no-store"


async def test_bad_sign_up_shows_each_error_beside_its_field_and_keeps_the_values(
    browser: Browser, services: Services
) -> None:
    slug = unique_slug("bad")
    page = await browser.post(
        "/signup", {"name": PAYLOAD, "slug": "admin", "email": "not-an-address", "password": "short"}
    )
    assert page.status_code == 400
    for field in ("slug", "email", "password"):
        assert f'id="{field}-error"' in page.text and f'aria-describedby="{field}-hint {field}-error"' in page.text
    assert "is reserved" in page.text and "at least 12 characters" in page.text
    assert PAYLOAD not in page.text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert 'value="short"' not in page.text, "a password is never sent back"
    assert await services.tenants.get_by_slug(slug) is None


async def test_duplicate_email_and_slug_are_refused(browser: Browser) -> None:
    owner = await sign_up(browser)
    again = await browser.post(
        "/signup", {"name": "Other", "slug": owner.slug, "email": owner.email, "password": PASSWORD}
    )
    assert again.status_code == 400
    assert "already has an account" in again.text and "is taken" in again.text


async def test_a_wrong_or_missing_csrf_token_is_refused(browser: Browser, browser_factory: object) -> None:
    owner = await sign_up(browser)
    forged = await browser.post("/login", {"email": owner.email, "password": PASSWORD}, csrf="forged")
    assert forged.status_code == 403 and "came from another site" in forged.text
    assert forged.headers["content-type"].startswith("text/html")
    # A cross-site form post arrives with no cookies of ours at all: refused too (no forced sign-in).
    stranger = browser_factory()  # type: ignore[operator]
    cookieless = await stranger.client.post(
        stranger.broker.url("/login"), data={"email": owner.email, "password": PASSWORD}
    )
    assert cookieless.status_code == 403 and not stranger.session


async def test_wrong_passwords_lock_the_account_with_a_clear_message(browser: Browser, mailbox: Mailbox) -> None:
    owner = await sign_up(browser)
    await verify(browser, mailbox, owner.email)
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        wrong = await sign_in(browser, owner.email, "not the password at all")
        assert wrong.status_code == 401 and "wrong" in wrong.text
    locked = await sign_in(browser, owner.email, "not the password at all")
    assert locked.status_code == 429 and "locked after 5 failed sign-ins" in locked.text
    assert "reset your password" in locked.text
    still = await sign_in(browser, owner.email)
    assert still.status_code == 429 and not browser.session


async def test_sign_out_ends_the_session(browser: Browser, browser_factory: object, mailbox: Mailbox) -> None:
    owner = await signed_in_owner(browser, mailbox)
    token = browser.session
    assert (await browser.post("/logout", {})).status_code == 303
    assert (await browser.get(f"/console/{owner.slug}/")).status_code == 303
    replay = browser_factory()  # type: ignore[operator]
    replay.client.cookies.set("broker_session", token)
    answer = await replay.get(f"/console/{owner.slug}/")
    assert answer.status_code == 303 and answer.headers["location"].startswith(replay.broker.url("/login"))


async def test_password_reset_by_mail_works_once_and_signs_out_elsewhere(
    browser: Browser, browser_factory: object, mailbox: Mailbox
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    other = browser_factory()  # type: ignore[operator]
    asked = await other.post("/reset-password", {"email": owner.email})
    assert asked.status_code == 200 and "If an account has this address" in asked.text
    link = link_in(await mailbox.async_wait_for(owner.email, "Reset"), "/reset-password/confirm")
    assert (await other.get(path_of(link))).status_code == 200
    weak = await other.post("/reset-password/confirm", {"token": token_of(link), "password": "x" * 300})
    assert weak.status_code == 400 and "at most 256 characters" in weak.text
    done = await other.post("/reset-password/confirm", {"token": token_of(link), "password": "a fresh new passphrase"})
    assert done.status_code == 200 and "Your password is changed" in done.text
    assert (await browser.get(f"/console/{owner.slug}/")).status_code == 303, "the old session ended"
    used = await other.post("/reset-password/confirm", {"token": token_of(link), "password": "yet another passphrase"})
    assert used.status_code == 400 and "already been used" in used.text
    assert (await sign_in(other, owner.email, "a fresh new passphrase")).status_code == 303


async def test_expired_links_say_so(browser: Browser, mailbox: Mailbox, services: Services) -> None:
    owner = await sign_up(browser)
    link = link_in(await mailbox.async_wait_for(owner.email, "Confirm"), "/verify-email")
    async with services.database.transaction() as session:
        await session.execute(
            update(AccountLink).where(AccountLink.email == owner.email).values(expires_at=utcnow() - timedelta(1))
        )
    expired = await browser.post("/verify-email", {"token": token_of(link)})
    assert expired.status_code == 400 and "expired" in expired.text and "Sign in" in expired.text
    unknown = await browser.get("/reset-password/confirm?token=made-up")
    assert unknown.status_code == 400 and "not valid" in unknown.text


async def test_changing_the_password_rotates_the_session(
    browser: Browser, browser_factory: object, mailbox: Mailbox
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    elsewhere = browser_factory()  # type: ignore[operator]
    assert (await sign_in(elsewhere, owner.email)).status_code == 303
    before = browser.session
    wrong = await browser.post("/account/password", {"current_password": "nope", "new_password": "a fine passphrase"})
    assert wrong.status_code == 400 and "is not your current password" in wrong.text
    changed = await browser.post(
        "/account/password", {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    )
    assert changed.status_code == 200 and "Your password is changed" in changed.text
    assert browser.session and browser.session != before
    assert (await browser.get(f"/console/{owner.slug}/")).status_code == 200
    assert (await elsewhere.get(f"/console/{owner.slug}/")).status_code == 303


async def test_a_resent_confirmation_link_reveals_nothing(browser: Browser, mailbox: Mailbox) -> None:
    owner = await sign_up(browser)
    for email in (owner.email, unique_email("nobody")):
        page = await browser.post("/verify-email/resend", {"email": email})
        assert page.status_code == 200 and "If this address has an account waiting" in page.text
    mail = await mailbox.async_wait_for(owner.email, "Confirm")
    assert mail is not None


async def _link(kind: str, browser: Browser, mailbox: Mailbox) -> tuple[str, str, dict[str, str]]:
    """A fresh link of this kind: its form's path, the address it was mailed to and what its form posts."""
    owner = await sign_up(browser)
    if kind == "verify":
        link = link_in(await mailbox.async_wait_for(owner.email, "Confirm"), "/verify-email")
        return "/verify-email", owner.email, {"token": token_of(link)}
    await verify(browser, mailbox, owner.email)
    if kind == "reset":
        await browser.post("/reset-password", {"email": owner.email})
        link = link_in(await mailbox.async_wait_for(owner.email, "Reset"), "/reset-password/confirm")
        return "/reset-password/confirm", owner.email, {"token": token_of(link), "password": "a fresh passphrase"}
    assert (await sign_in(browser, owner.email)).status_code == 303
    colleague = unique_email("bob")
    await browser.post(f"/console/{owner.slug}/members", {"email": colleague, "role": "member"})
    link = link_in(await mailbox.async_wait_for(colleague, "invited"), "/invitations/accept")
    return "/invitations/accept", colleague, {"token": token_of(link), "password": PASSWORD}


NEXT_STEP = {
    "verify": '<a class="button" href="/login">Sign in</a>',
    "reset": '<a class="button" href="/reset-password">Ask for a new link</a>',
    "invitation": "Ask the tenant&#39;s owner to invite you again.",
}


@pytest.mark.parametrize("kind", ["verify", "reset", "invitation"])
async def test_each_kind_of_link_works_once_and_says_when_it_is_used_or_expired(
    kind: str, browser: Browser, browser_factory: Callable[[], Browser], mailbox: Mailbox, services: Services
) -> None:
    path, email, form = await _link(kind, browser, mailbox)
    visitor = browser_factory()
    assert (await visitor.get(f"{path}?token={form['token']}")).status_code == 200
    assert (await visitor.post(path, form)).status_code in (200, 303)
    for answer in (await visitor.get(f"{path}?token={form['token']}"), await visitor.post(path, form)):
        assert answer.status_code == 400 and "already been used; each link works once" in answer.text, kind

    path, email, form = await _link(kind, browser_factory(), mailbox)
    async with services.database.transaction() as session:
        await session.execute(
            update(AccountLink).where(AccountLink.email == email).values(expires_at=utcnow() - timedelta(minutes=1))
        )
    for answer in (await visitor.get(f"{path}?token={form['token']}"), await visitor.post(path, form)):
        assert answer.status_code == 400 and "This link has expired." in answer.text, kind
        assert NEXT_STEP[kind] in answer.text, "the page says what to do next"


async def test_signing_in_replaces_the_session_the_browser_had(
    browser: Browser, browser_factory: Callable[[], Browser], mailbox: Mailbox
) -> None:
    first = await signed_in_owner(browser, mailbox)
    planted = browser.session
    second_browser = browser_factory()
    second = await signed_in_owner(second_browser, mailbox)
    assert (await sign_in(browser, second.email)).status_code == 303
    assert browser.session and browser.session != planted
    assert (await browser.get(f"/console/{second.slug}/")).status_code == 200
    assert (await browser.get(f"/console/{first.slug}/")).status_code == 404
    replay = browser_factory()
    replay.client.cookies.set("broker_session", planted or "")
    answer = await replay.get(f"/console/{first.slug}/")
    assert answer.status_code == 303 and "/login" in answer.headers["location"], "the old session ended"
