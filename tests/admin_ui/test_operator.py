"""The operator console: operator accounts only; the development mail outbox shows what was not sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from broker.app import Services
from tests.admin_ui.conftest import CSRF_COOKIE, PASSWORD, Browser, unique_email
from tests.conftest import RunningBroker, unique_slug


@pytest.fixture
def dev_browser(broker: RunningBroker) -> Iterator[Browser]:
    """A client of the broker without BROKER_SMTP_URL: it keeps mail in its development outbox."""
    yield Browser(httpx.AsyncClient(timeout=20), broker)


async def test_operators_read_the_development_outbox(dev_browser: Browser, services: Services) -> None:
    operator = unique_email("op")
    await services.accounts.create_operator(operator, PASSWORD)
    vendor = unique_email()
    slug = unique_slug("dev")
    signed_up = await dev_browser.post(
        "/signup", {"name": "Dev Tool", "slug": slug, "email": vendor, "password": PASSWORD}
    )
    assert signed_up.status_code == 200 and "could not be sent" not in signed_up.text

    assert (await dev_browser.post("/admin/login", {"email": vendor, "password": PASSWORD})).status_code == 401
    signed_in = await dev_browser.post("/admin/login", {"email": operator, "password": PASSWORD})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/"
    outbox = await dev_browser.get("/admin/mail")
    assert outbox.status_code == 200 and vendor in outbox.text and "/verify-email?token=" in outbox.text
    await dev_browser.client.aclose()


async def test_vendors_cannot_open_the_operator_console(
    browser_factory: Callable[[], Browser], services: Services
) -> None:
    visitor = browser_factory()
    page = await visitor.get("/admin/mail")
    assert page.status_code == 303 and "/admin/login?next=" in page.headers["location"]
    assert CSRF_COOKIE not in visitor.client.cookies
