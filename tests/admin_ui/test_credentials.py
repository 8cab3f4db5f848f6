"""API keys, signing keys, webhooks and the audit log in the tenant console: owners change credentials, members
cannot; a new key or secret is shown once; another tenant's ids are not found."""

from __future__ import annotations

import re
from collections.abc import Callable

from broker.registration.status import change_status
from broker.services import Services
from tenants.services import CreatedTenant
from tests.admin_ui.conftest import PASSWORD, Browser, Owner, path_of, signed_in_owner, token_of, unique_email
from tests.broker.test_api import add_registrations
from tests.smtp import Mailbox, link_in


async def member_of(owner_browser: Browser, owner: Owner, member: Browser, mailbox: Mailbox) -> None:
    email = unique_email("member")
    await owner_browser.post(f"/console/{owner.slug}/members", {"email": email, "role": "member"})
    link = link_in(await mailbox.async_wait_for(email, "invited"), "/invitations/accept")
    assert (await member.get(path_of(link))).status_code == 200
    joined = await member.post("/invitations/accept", {"token": token_of(link), "password": PASSWORD})
    assert joined.status_code == 303


async def test_api_keys_are_shown_once_and_revoked(browser: Browser, mailbox: Mailbox, services: Services) -> None:
    owner = await signed_in_owner(browser, mailbox)
    bad = await browser.post(f"/console/{owner.slug}/api-keys", {"name": ""})
    assert bad.status_code == 400 and 'id="name-error"' in bad.text
    created = await browser.post(f"/console/{owner.slug}/api-keys", {"name": "<b>production</b>"})
    key = re.search(r'id="new-key">(lbk_[\w-]+)<', created.text)
    assert created.status_code == 200 and key and "&lt;b&gt;production&lt;/b&gt;" in created.text
    tenant = await services.tenants.authenticate(key.group(1))
    assert tenant is not None and tenant.slug == owner.slug
    listing = await browser.get(f"/console/{owner.slug}/api-keys")
    assert key.group(1) not in listing.text and key.group(1)[:12] in listing.text

    first_key = await services.tenants.authenticate(owner.api_key)
    assert first_key is not None
    ids = re.findall(rf"/console/{owner.slug}/api-keys/(key_\w+)/revoke", listing.text)
    assert len(ids) == 2
    for key_id in ids[:-1]:
        assert (await browser.post(f"/console/{owner.slug}/api-keys/{key_id}/revoke", {})).status_code == 200
    last = await browser.post(f"/console/{owner.slug}/api-keys/{ids[-1]}/revoke", {})
    assert last.status_code == 409 and "last live API key" in last.text
    assert await services.tenants.authenticate(owner.api_key) is None


async def test_members_cannot_change_credentials_and_other_tenants_ids_are_not_found(
    browser: Browser, browser_factory: Callable[[], Browser], mailbox: Mailbox
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    member = browser_factory()
    await member_of(browser, owner, member, mailbox)
    listing = await browser.get(f"/console/{owner.slug}/api-keys")
    key_id = re.findall(rf"/console/{owner.slug}/api-keys/(key_\w+)/revoke", listing.text)[0]
    paths = ("api-keys", f"api-keys/{key_id}/revoke", "signing-keys/rotate", "webhooks/rotate-secret", "webhooks")
    for path in paths:
        answer = await member.post(f"/console/{owner.slug}/{path}", {"name": "mine", "url": "https://mine.example/"})
        assert answer.status_code == 403 and "Only owners can do this" in answer.text, path
    assert "Only the tenant's owners can create or revoke" in (await member.get(f"/console/{owner.slug}/api-keys")).text
    webhooks = await member.get(f"/console/{owner.slug}/webhooks")
    assert "Only the tenant's owners can change the webhook" in webhooks.text and 'name="url"' not in webhooks.text

    stranger_browser = browser_factory()
    stranger = await signed_in_owner(stranger_browser, mailbox)
    answer = await stranger_browser.post(f"/console/{stranger.slug}/api-keys/{key_id}/revoke", {})
    assert answer.status_code == 404
    assert key_id in (await browser.get(f"/console/{owner.slug}/api-keys")).text


async def test_signing_keys_rotate(browser: Browser, mailbox: Mailbox) -> None:
    owner = await signed_in_owner(browser, mailbox)
    before = await browser.get(f"/console/{owner.slug}/signing-keys")
    assert before.status_code == 200 and before.text.count("<td>active</td>") == 1
    rotated = await browser.post(f"/console/{owner.slug}/signing-keys/rotate", {})
    assert rotated.status_code == 200 and "starts signing at" in rotated.text
    assert "<td>next</td>" in rotated.text
    again = await browser.post(f"/console/{owner.slug}/signing-keys/rotate", {})
    assert "already under way" in again.text and again.text.count("<td>next</td>") == 1


async def test_webhook_url_secret_rotation_and_replay(
    browser: Browser, browser_factory: Callable[[], Browser], mailbox: Mailbox, services: Services
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    bad = await browser.post(f"/console/{owner.slug}/webhooks", {"url": "ftp://hooks.example/x"})
    assert bad.status_code == 400 and 'id="url-error"' in bad.text and "https" in bad.text
    saved = await browser.post(f"/console/{owner.slug}/webhooks", {"url": "https://hooks.example/lti"})
    secret = re.search(r'id="webhook-secret">(whsec_[\w+/=]+)<', saved.text)
    assert saved.status_code == 200 and secret
    rotated = await browser.post(f"/console/{owner.slug}/webhooks/rotate-secret", {})
    new_secret = re.search(r'id="webhook-secret">(whsec_[\w+/=]+)<', rotated.text)
    assert new_secret and new_secret.group(1) != secret.group(1) and "keeps signing beside it" in rotated.text
    assert secret.group(1) not in (await browser.get(f"/console/{owner.slug}/webhooks")).text

    tenant = await services.tenants.get_by_slug(owner.slug)
    assert tenant is not None
    (registration_id,) = await add_registrations(services, CreatedTenant(tenant, "", None, ""), 1)
    await change_status(services.database, registration_id, "disable", tenant_id=tenant.id)
    page = await browser.get(f"/console/{owner.slug}/webhooks")
    event_id = re.search(rf"/console/{owner.slug}/events/(\w+)/replay", page.text)
    assert event_id and "registration.disabled" in page.text
    replayed = await browser.post(f"/console/{owner.slug}/events/{event_id.group(1)}/replay", {})
    assert replayed.status_code == 200 and "queued for delivery again" in replayed.text
    assert replayed.text.count(event_id.group(1)) >= 2 and "replay" in replayed.text

    stranger_browser = browser_factory()
    stranger = await signed_in_owner(stranger_browser, mailbox)
    answer = await stranger_browser.post(f"/console/{stranger.slug}/events/{event_id.group(1)}/replay", {})
    assert answer.status_code == 404

    audit = await browser.get(f"/console/{owner.slug}/audit")
    for action in ("tenant.signed_up", "webhook.url_set", "webhook.secret_rotated", "webhook.replayed"):
        assert action in audit.text
