"""Every console route, found from the routing table so that a new one is covered too: another tenant's slug in
the URL, or another tenant's registration, attempt, key or event id under one's own slug, is answered 404 as if it
did not exist, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from admin_ui.console import routes as console_routes
from broker.services import Services
from tests.admin_ui.conftest import Browser, signed_in_owner
from tests.admin_ui.console_routes import console_requests, owner_with_everything
from tests.conftest import RunningBroker
from tests.smtp import Mailbox

# What an attacker would post to any form: every field a console form reads.
FORM = {"name": "mine", "url": "https://attacker.example/hook", "email": "eve@attacker.example", "role": "owner"}


async def test_another_tenants_slug_or_ids_in_any_console_url_are_not_found_and_change_nothing(
    browser: Browser, browser_factory: Callable[[], Browser], mailbox: Mailbox, http: httpx.AsyncClient,
    console_broker: RunningBroker, services: Services,
) -> None:  # fmt: skip
    victim, victim_ids = await owner_with_everything(browser, mailbox, http, console_broker, name="Victim Tool")
    before = await services.tenants.get_by_slug(victim.slug)
    assert before is not None

    attacker_browser = browser_factory()
    attacker = await signed_in_owner(attacker_browser, mailbox, name="Attacker Tool")
    for method, path in console_requests(victim.slug, victim_ids):
        answer = await (attacker_browser.get(path) if method == "GET" else attacker_browser.post(path, FORM))
        assert answer.status_code == 404 and "No such tenant in your account" in answer.text, (method, path)
        assert "Victim Tool" not in answer.text
    tried = 0
    for method, path in console_requests(attacker.slug, victim_ids):
        if not any(victim_id in path for victim_id in victim_ids.values()):
            continue
        answer = await (attacker_browser.get(path) if method == "GET" else attacker_browser.post(path, FORM))
        assert answer.status_code == 404 and "Not found in this tenant" in answer.text, (method, path)
        assert "Victim Tool" not in answer.text and victim.slug not in answer.text
        tried += 1
    with_ids = [route for route in console_routes if "{id}" in route.path or "{event_id}" in route.path]
    assert tried == sum(len(set(route.methods or ()) - {"HEAD"}) for route in with_ids), "every route with ids"

    after = await services.tenants.get_by_slug(victim.slug)
    assert after is not None and after.webhook_url == before.webhook_url and after.name == before.name
    assert after.tool_configuration == before.tool_configuration
    assert await services.tenants.authenticate(victim.api_key) is not None
    registration = await browser.get(f"/console/{victim.slug}/registrations/{victim_ids['registrations']}")
    assert 'id="status">active<' in registration.text
    members = await browser.get(f"/console/{victim.slug}/members")
    assert "attacker.example" not in members.text
    audit = await browser.get(f"/console/{victim.slug}/audit")
    assert attacker.email not in audit.text
