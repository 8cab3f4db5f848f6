"""A tenant's own host name in the console: owners set, change and remove it with the API's rules (one DNS name,
never another tenant's), the registration URL moves to it at once; members see it and cannot change it."""

from __future__ import annotations

from collections.abc import Callable

from tests.admin_ui.conftest import Browser, signed_in_owner
from tests.admin_ui.test_credentials import member_of
from tests.conftest import RunningBroker
from tests.smtp import Mailbox


async def test_owners_give_their_tool_a_host_name_of_its_own_from_the_console(
    browser: Browser, browser_factory: Callable[[], Browser], mailbox: Mailbox, console_broker: RunningBroker
) -> None:
    owner = await signed_in_owner(browser, mailbox)
    slug, port = owner.slug, console_broker.base_url.rsplit(":", 1)[1]
    assert 'name="hostname"' in (await browser.get(f"/console/{slug}/")).text

    refused = await browser.post(f"/console/{slug}/hostname", {"hostname": "lti_acme.example.com"})
    assert refused.status_code == 400 and 'id="hostname-error"' in refused.text and "underscore" in refused.text
    done = await browser.post(f"/console/{slug}/hostname", {"hostname": f"LTI.{slug}.example."})
    assert done.status_code == 200 and f'value="http://lti.{slug}.example:{port}/lti/register"' in done.text
    assert f'value="lti.{slug}.example"' in done.text

    rival_browser = browser_factory()
    rival = await signed_in_owner(rival_browser, mailbox)
    taken = await rival_browser.post(f"/console/{rival.slug}/hostname", {"hostname": f"lti.{slug}.example"})
    assert taken.status_code == 400 and 'id="hostname-error"' in taken.text and "another tool" in taken.text

    removed = await browser.post(f"/console/{slug}/hostname", {"hostname": " "})
    assert removed.status_code == 200 and f'value="{console_broker.url(f"/t/{slug}/lti/register")}"' in removed.text
    assert f"lti.{slug}.example:{port}" in removed.text, "the old name keeps serving the registrations made on it"
    assert "tenant.hostname_set" in (await browser.get(f"/console/{slug}/audit")).text

    member = browser_factory()
    await member_of(browser, owner, member, mailbox)
    answer = await member.post(f"/console/{slug}/hostname", {"hostname": "lti.mine.example"})
    assert answer.status_code == 403 and "Only owners can do this" in answer.text
    assert 'name="hostname"' not in (await member.get(f"/console/{slug}/")).text
