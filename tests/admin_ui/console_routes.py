"""Every route of the tenant console, read from its routing table so that a new route is covered too, and a
tenant that has something behind each of them (a registration, its attempt and webhook event, an API key)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx

from admin_ui.console import routes as console_routes
from tests.admin_ui.conftest import Browser, Owner, signed_in_owner
from tests.admin_ui.test_registrations import registered, registration_id
from tests.conftest import RunningBroker
from tests.emulators import MoodleEmulator
from tests.smtp import Mailbox


def console_requests(slug: str, ids: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(method, path) of every console route under `slug`, its id parameters filled from `ids` (by the route's
    first path segment after the slug)."""
    for route in console_routes:
        if "{slug}" not in route.path:
            continue
        path = route.path.replace("{slug}", slug)
        kind = path.removeprefix(f"/console/{slug}/").split("/")[0]
        path = path.replace("{id}", ids.get(kind, "")).replace("{event_id}", ids.get("events", ""))
        path = path.replace("{action:str}", "disable")
        assert "{" not in path and "//" not in path, f"the test does not know how to fill {route.path}"
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield method, path


async def ids_of(owner_browser: Browser, owner: Owner) -> dict[str, str]:
    """One id of each kind the console's URLs take, all of the owner's tenant."""
    pages = {kind: (await owner_browser.get(f"/console/{owner.slug}/{kind}")).text
             for kind in ("attempts", "api-keys", "webhooks")}  # fmt: skip
    found = {
        "registrations": await registration_id(owner_browser, owner),
        "attempts": re.findall(rf"/console/{owner.slug}/attempts/(\w+)\"", pages["attempts"])[0],
        "api-keys": re.findall(rf"/console/{owner.slug}/api-keys/(key_\w+)/revoke", pages["api-keys"])[0],
        "events": re.findall(rf"/console/{owner.slug}/events/(\w+)/replay", pages["webhooks"])[0],
    }
    return found


async def owner_with_everything(
    browser: Browser, mailbox: Mailbox, http: httpx.AsyncClient, broker: RunningBroker, *, name: str = "Acme Quiz"
) -> tuple[Owner, dict[str, str]]:
    """A signed-in owner whose tenant has a webhook URL, a registration, its attempt and event; their ids."""
    owner = await signed_in_owner(browser, mailbox, name=name)
    assert (await browser.post(f"/console/{owner.slug}/webhooks", {"url": "https://hooks.example/lti"})).is_success
    with MoodleEmulator.running() as moodle:
        await registered(http, broker, owner, moodle)
    return owner, await ids_of(browser, owner)
