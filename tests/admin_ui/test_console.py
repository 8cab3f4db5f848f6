"""The tenant console: one tenant's people never see or change another's; owners invite, members cannot."""

from __future__ import annotations

from collections.abc import Callable

from broker.app import create_services
from tests.admin_ui.conftest import PASSWORD, Browser, path_of, signed_in_owner, token_of, unique_email
from tests.smtp import Mailbox, link_in


async def test_another_tenants_console_is_not_found(
    browser: Browser, browser_factory: Callable[[], Browser], mailbox: Mailbox
) -> None:
    mine = await signed_in_owner(browser, mailbox)
    other_browser = browser_factory()
    theirs = await signed_in_owner(other_browser, mailbox, name="Their Tool")
    for path in (f"/console/{theirs.slug}/", f"/console/{theirs.slug}/members", "/console/no-such-tenant/"):
        page = await browser.get(path)
        assert page.status_code == 404 and "No such tenant in your account" in page.text
        assert "console.css" in page.text, "shown in the consoles' layout"
        assert "Their Tool" not in page.text
    invite = await browser.post(f"/console/{theirs.slug}/members", {"email": unique_email(), "role": "owner"})
    assert invite.status_code == 404
    assert (await browser.get(f"/console/{mine.slug}/")).status_code == 200


async def test_signed_out_visitors_are_sent_to_sign_in(browser_factory: Callable[[], Browser]) -> None:
    visitor = browser_factory()
    page = await visitor.get("/console/some-tenant/members")
    assert page.status_code == 303 and "/login?next=" in page.headers["location"]


async def test_owners_invite_members_who_cannot_do_owner_things(
    browser: Browser, browser_factory: Callable[[], Browser], mailbox: Mailbox
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    newcomer = unique_email("bob")
    bad = await browser.post(f"/console/{owner.slug}/members", {"email": "<b>bob</b>", "role": "admin"})
    assert bad.status_code == 400 and 'id="email-error"' in bad.text and 'id="role-error"' in bad.text
    assert "<b>bob</b>" not in bad.text
    sent = await browser.post(f"/console/{owner.slug}/members", {"email": newcomer, "role": "member"})
    assert sent.status_code == 200 and f"Invitation sent to {newcomer}" in sent.text

    link = link_in(await mailbox.async_wait_for(newcomer, "invited"), "/invitations/accept")
    member = browser_factory()
    shown = await member.get(path_of(link))
    assert shown.status_code == 200 and "Choose a password" in shown.text and owner.name in shown.text
    joined = await member.post("/invitations/accept", {"token": token_of(link), "password": PASSWORD})
    assert joined.status_code == 303 and member.session
    members = await member.get(f"/console/{owner.slug}/members")
    assert members.status_code == 200 and newcomer in members.text and owner.email in members.text
    assert "Only the tenant's owners can invite people" in members.text

    refused = await member.post(f"/console/{owner.slug}/members", {"email": unique_email("eve"), "role": "owner"})
    assert refused.status_code == 403 and "Only owners can do this" in refused.text

    again = await member.post("/invitations/accept", {"token": token_of(link), "password": PASSWORD})
    assert again.status_code == 400 and "already been used" in again.text


async def test_the_console_shows_the_tenants_own_host_and_the_addresses_still_served(
    browser: Browser, mailbox: Mailbox
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    page = await browser.get(f"/console/{owner.slug}/")
    assert browser.broker.url(f"/t/{owner.slug}/lti/register") in page.text and 'id="other-sites"' not in page.text
    services = create_services(browser.broker.settings)
    try:
        tenant = await services.tenants.get_by_slug(owner.slug)
        assert tenant is not None
        for name in (f"old-{owner.slug}.example", f"lti-{owner.slug}.example"):
            await services.tenants.update(tenant.id, {"hostname": name})
    finally:
        await services.close()
    port = browser.broker.base_url.rsplit(":", 1)[1]
    page = await browser.get(f"/console/{owner.slug}/")
    assert f'value="http://lti-{owner.slug}.example:{port}/lti/register"' in page.text
    served = page.text.split('id="other-sites"')[1].split("</ul>")[0]
    assert f"http://old-{owner.slug}.example:{port}" in served and browser.broker.url(f"/t/{owner.slug}") in served
