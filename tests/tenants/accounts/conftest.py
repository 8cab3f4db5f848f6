from __future__ import annotations

from dataclasses import replace

import pytest_asyncio

from broker.mail import Mailer
from broker.services import Services
from tenants.accounts.service import AccountService
from tests.smtp import Mailbox, mailbox

__all__ = ["mailbox"]


@pytest_asyncio.fixture(loop_scope="session")
async def accounts(services: Services, mailbox: Mailbox) -> AccountService:
    """The account service, mailing over SMTP to the test's mailbox."""
    settings = replace(services.settings, smtp_url=mailbox.url)
    return AccountService(
        services.database, settings, Mailer(settings, services.database), services.tenants, services.limit_store
    )
