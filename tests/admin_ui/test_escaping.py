"""An HTML/JS payload typed into every text field of every console and account form is shown back escaped, in
the answer and on every page after it. The forms are read from the pages themselves, so a new field is covered
too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

from broker.services import Services
from tests.admin_ui.conftest import PASSWORD, Browser, path_of, unique_email
from tests.admin_ui.console_routes import console_requests, owner_with_everything
from tests.conftest import RunningBroker
from tests.smtp import Mailbox, link_in

PAYLOAD = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
TEXT_INPUTS = {"text", "email", "url", "password", "search"}
PUBLIC_PAGES = ("/", "/signup", "/login", "/reset-password", "/admin/login")


@dataclass
class Form:
    action: str
    values: dict[str, list[str]] = field(default_factory=dict)
    text_fields: list[str] = field(default_factory=list)


class FormReader(HTMLParser):
    """The POST forms of a page: their hidden and chosen values, and the names of their text fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        name = attributes.get("name")
        if tag == "form" and (attributes.get("method") or "").lower() == "post":
            self._form = Form(attributes.get("action") or "")
            self.forms.append(self._form)
        elif self._form is None or (not name and tag != "option"):
            return
        elif tag == "textarea" or (tag == "input" and attributes.get("type", "text") in TEXT_INPUTS):
            self._form.text_fields.append(name or "")
        elif tag == "input" and attributes.get("type") not in {"submit", "checkbox", "radio"}:
            self._form.values.setdefault(name or "", []).append(attributes.get("value") or "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and self._select not in self._form.values:
            self._form.values[self._select] = [attributes.get("value") or ""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def forms_in(page: str) -> list[Form]:
    reader = FormReader()
    reader.feed(page)
    return [form for form in reader.forms if form.text_fields]


async def post_payload_everywhere(browser: Browser, path: str) -> int:
    """Fills every text field of every form on the page with the payload and posts it; how many forms."""
    page = await browser.get(path)
    assert page.status_code == 200, path
    forms = forms_in(page.text)
    for form in forms:
        data = {**form.values, **{name: PAYLOAD for name in form.text_fields}}
        answer = await browser.client.post(browser.broker.url(form.action or path), data=data)
        assert answer.status_code < 500, (path, form.action)
        assert PAYLOAD not in answer.text and "<script>alert(1)" not in answer.text, (path, form.action)
    return len(forms)


async def test_a_payload_in_every_text_field_is_shown_escaped(
    browser: Browser, browser_factory: Callable[[], Browser], mailbox: Mailbox, http: httpx.AsyncClient,
    console_broker: RunningBroker, services: Services,
) -> None:  # fmt: skip
    owner, ids = await owner_with_everything(browser, mailbox, http, console_broker, name=PAYLOAD)
    console_pages = [path for method, path in console_requests(owner.slug, ids) if method == "GET"]

    posted = 0
    for path in (*console_pages, "/account"):
        posted += await post_payload_everywhere(browser, path)
    visitor = browser_factory()
    for path in PUBLIC_PAGES:
        posted += await post_payload_everywhere(visitor, path)
    assert posted >= 9, "the forms were found"

    for path in (*console_pages, "/account", "/console/"):
        page = await browser.get(path)
        assert PAYLOAD not in page.text and "<script>alert(1)" not in page.text, path

    colleague = unique_email("bob")
    await browser.post(f"/console/{owner.slug}/members", {"email": colleague, "role": "member"})
    invitation = link_in(await mailbox.async_wait_for(colleague, "invited"), "/invitations/accept")
    shown = await visitor.get(path_of(invitation))
    assert shown.status_code == 200 and PAYLOAD not in shown.text and "&lt;script&gt;" in shown.text

    operator = browser_factory()
    operator_email = unique_email("op")
    await services.accounts.create_operator(operator_email, PASSWORD)
    await operator.post("/admin/login", {"email": operator_email, "password": PASSWORD})
    for path in (f"/admin/?q={owner.slug}", "/admin/?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E", "/admin/mail"):
        page = await operator.get(path)
        assert page.status_code == 200 and PAYLOAD not in page.text and "<script>alert(1)" not in page.text, path
