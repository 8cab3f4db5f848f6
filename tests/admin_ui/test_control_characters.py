"""A NUL or another control character typed into every text field of every console, account and public form,
on both engines: PostgreSQL holds no NUL in text, so each answer is the form again or a page naming the field,
with a 4xx status, never a 500. The forms are read from the pages themselves, so a new field is covered too."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.admin_ui.conftest import Browser
from tests.admin_ui.console_routes import console_requests, owner_with_everything
from tests.admin_ui.test_escaping import PUBLIC_PAGES, forms_in
from tests.conftest import RunningBroker
from tests.smtp import Mailbox

NUL = "a\x00b"
# Stored and shown like any text on both engines (escaped in pages), but never a 500 either.
OTHER_CONTROLS = "a\x01\x1b\x7fb"


def names_a_field(page: str) -> bool:
    """The form shown again with an error beside a field, or an error page naming the field."""
    return '<p class="field-error" id="' in page or '<code id="field">' in page


async def post_everywhere(browser: Browser, path: str, value: str) -> list[str]:
    """Posts `value` in every text field of every form on the page; what went wrong, form by form."""
    page = await browser.get(path)
    assert page.status_code == 200, path
    wrong = []
    for form in forms_in(page.text):
        data = {**form.values, **{name: value for name in form.text_fields}}
        answer = await browser.client.post(browser.broker.url(form.action or path), data=data)
        where = f"{form.action or path} {value!r}: {answer.status_code}"
        if answer.status_code >= 500:
            wrong.append(f"{where}, a server error")
        elif "\x00" in value and not (400 <= answer.status_code < 500 and names_a_field(answer.text)):
            wrong.append(f"{where}, not a 4xx naming the field")
    return wrong


async def test_control_characters_in_every_form_are_refused_by_field_never_a_server_error(
    browser: Browser, browser_factory: Callable[[], Browser], mailbox: Mailbox, http: httpx.AsyncClient,
    console_broker: RunningBroker,
) -> None:  # fmt: skip
    owner, ids = await owner_with_everything(browser, mailbox, http, console_broker)
    pages = [path for method, path in console_requests(owner.slug, ids) if method == "GET"] + ["/account"]
    wrong = []
    for path in pages:
        for value in (NUL, OTHER_CONTROLS):
            wrong += await post_everywhere(browser, path, value)
    visitor = browser_factory()
    for path in PUBLIC_PAGES:
        wrong += await post_everywhere(visitor, path, NUL)
    assert not wrong, "\n".join(wrong)
