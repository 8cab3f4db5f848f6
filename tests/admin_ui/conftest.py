"""A broker that mails over SMTP to the test's aiosmtpd server, and a browser-like client for its consoles."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser as Chromium
from playwright.async_api import async_playwright

from tests.conftest import RunningBroker, _serve_broker, unique_slug
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_FLAGS
from tests.smtp import Mailbox, link_in, mailbox

__all__ = ["mailbox"]

PASSWORD = "correct horse battery staple"
CSRF_COOKIE = "broker_csrf"


@pytest.fixture(scope="session")
def console_broker(database_url: str, mailbox: Mailbox) -> Iterator[RunningBroker]:
    """The broker over loopback HTTP, sending its mail to the test's SMTP server."""
    yield from _serve_broker(database_url, smtp_url=mailbox.url)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chromium() -> AsyncIterator[Chromium]:
    """Debian's Chromium, driven by Playwright."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        await browser.close()


class Browser:
    """A cookie-keeping HTTP client that submits forms with the CSRF token, as a browser with our pages would."""

    def __init__(self, client: httpx.AsyncClient, broker: RunningBroker) -> None:
        self.client = client
        self.broker = broker

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(self.broker.url(path))

    async def post(self, path: str, data: dict[str, str], *, csrf: str | None = None) -> httpx.Response:
        if CSRF_COOKIE not in self.client.cookies:
            await self.get("/login")  # any form page sets the CSRF cookie
        token = self.client.cookies[CSRF_COOKIE] if csrf is None else csrf
        return await self.client.post(self.broker.url(path), data={"csrftoken": token, **data})

    @property
    def session(self) -> str | None:
        return self.client.cookies.get("broker_session")


@pytest_asyncio.fixture(loop_scope="session")
async def browser_factory(console_broker: RunningBroker) -> AsyncIterator[Callable[[], Browser]]:
    """Makes browsers (each with its own cookies) for tests with several people."""
    clients: list[httpx.AsyncClient] = []

    def make() -> Browser:
        client = httpx.AsyncClient(timeout=20, headers={"User-Agent": "lti-broker-tests"})
        clients.append(client)
        return Browser(client, console_broker)

    yield make
    for client in clients:
        await client.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def browser(browser_factory: Callable[[], Browser]) -> Browser:
    return browser_factory()


@dataclass
class Owner:
    email: str
    slug: str
    name: str
    api_key: str


def unique_email(name: str = "ada") -> str:
    return f"{name}-{secrets.token_hex(4)}@example.com"


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


async def sign_up(browser: Browser, *, name: str = "Acme Quiz") -> Owner:
    email, slug = unique_email(), unique_slug("acme")
    page = await browser.post("/signup", {"name": name, "slug": slug, "email": email, "password": PASSWORD})
    assert page.status_code == 200, page.text
    api_key = re.search(r'id="api-key">(lbk_[\w-]+)<', page.text)
    assert api_key, page.text
    return Owner(email, slug, name, api_key.group(1))


async def verify(browser: Browser, mailbox: Mailbox, email: str) -> None:
    link = link_in(await mailbox.async_wait_for(email, "Confirm"), "/verify-email")
    page = await browser.post("/verify-email", {"token": token_of(link)})
    assert page.status_code == 200 and "is confirmed" in page.text, page.text


async def sign_in(browser: Browser, email: str, password: str = PASSWORD, path: str = "/login") -> httpx.Response:
    return await browser.post(path, {"email": email, "password": password})


async def signed_in_owner(browser: Browser, mailbox: Mailbox, *, name: str = "Acme Quiz") -> Owner:
    owner = await sign_up(browser, name=name)
    await verify(browser, mailbox, owner.email)
    answer = await sign_in(browser, owner.email)
    assert answer.status_code == 303, answer.text
    return owner
