"""Driving the broker's registration pages as an LMS admin's browser would: follow the initiation URL,
submit every form with its default values, and read what the pages say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from tests.emulators import PlatformEmulator

CLOSE_MESSAGE = "org.imsglobal.lti.close"


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    optional: list[str] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(action=values.get("action", ""), method=values.get("method", "get").lower()))
        elif tag == "input" and self.forms and values.get("name"):
            kind = values.get("type", "text")
            if kind == "checkbox":
                self.forms[-1].optional.append(values["name"])
                if "checked" in values:
                    self.forms[-1].fields[values["name"]] = values.get("value", "on")
            elif kind not in {"submit", "button"}:
                self.forms[-1].fields[values["name"]] = values.get("value", "")


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def posts_close_message(html: str) -> bool:
    return CLOSE_MESSAGE in html and "postMessage" in html


async def submit_defaults(http: httpx.AsyncClient, page: httpx.Response, *, max_pages: int = 5) -> httpx.Response:
    """Submit the page's first form with its defaults, and the next page's, until a page has no form."""
    for _ in range(max_pages):
        forms = forms_of(page.text)
        # The page that ends the registration (it posts the close message) may offer Verify: not submitted.
        if page.status_code != 200 or not forms or posts_close_message(page.text):
            return page
        form = forms[0]
        page = await http.post(urljoin(str(page.url), form.action), data=form.fields)
    raise AssertionError(f"still a form after {max_pages} pages")


@dataclass
class Outcome:
    first_page: httpx.Response
    last_page: httpx.Response


async def register(http: httpx.AsyncClient, registration_url: str, platform: PlatformEmulator) -> Outcome:
    """The whole flow as the LMS starts it, with every form submitted with its defaults."""
    first = await http.get(platform.initiation_url(registration_url))
    return Outcome(first, await submit_defaults(http, first))
