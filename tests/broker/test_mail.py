"""Outgoing mail: over SMTP to a real server; kept in the development outbox without one (and logged without
its links); never kept in production, which refuses to start without an SMTP server."""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace

import pytest

from broker.mail import Mail, Mailer, MailNotSent, smtp_server
from broker.services import Services
from broker.settings import Settings, SettingsError
from tests.emulators.server import bind_loopback
from tests.smtp import Mailbox, mailbox

__all__ = ["mailbox"]


def a_mail() -> Mail:
    secret_link = f"https://broker.example/verify-email?token={secrets.token_urlsafe(32)}"
    return Mail(to=f"ada-{secrets.token_hex(4)}@example.com", subject="Confirm", body=f"Open {secret_link}\n")


async def test_mail_goes_over_smtp(services: Services, mailbox: Mailbox) -> None:
    settings = replace(services.settings, smtp_url=mailbox.url, mail_from="Broker <no-reply@broker.example>")
    mail = a_mail()
    await Mailer(settings, services.database).send(mail)
    received = await mailbox.async_wait_for(mail.to)
    assert received["From"] == "Broker <no-reply@broker.example>" and received["Subject"] == "Confirm"
    assert received.get_content().replace("\r\n", "\n") == mail.body


async def test_development_keeps_mail_in_the_outbox_and_logs_no_link(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = Mailer(replace(services.settings, smtp_url=""), services.database)
    mail = a_mail()
    with caplog.at_level(logging.INFO, logger="broker.mail"):
        await mailer.send(mail)
    kept = [row for row in await mailer.development_outbox() if row.recipient == mail.to]
    assert [row.body for row in kept] == [mail.body]
    assert mail.to in caplog.text and "BROKER_SMTP_URL" in caplog.text
    assert "token=" not in caplog.text


async def test_production_never_keeps_mail(services: Services) -> None:
    mailer = Mailer(replace(services.settings, smtp_url="", environment="production"), services.database)
    mail = a_mail()
    with pytest.raises(MailNotSent, match="BROKER_SMTP_URL"):
        await mailer.send(mail)
    assert all(row.recipient != mail.to for row in await mailer.development_outbox())


def test_production_without_an_smtp_server_does_not_start() -> None:
    with pytest.raises(SettingsError, match="BROKER_SMTP_URL"):
        Settings.from_environ({"BROKER_ENV": "production", "BROKER_SECRET_KEY": "k" * 40})
    settings = Settings.from_environ(
        {"BROKER_ENV": "production", "BROKER_SECRET_KEY": "k" * 40, "BROKER_SMTP_URL": "smtps://u:p%40ss@mail.example"}
    )
    assert "p%40ss" not in repr(settings)
    server = smtp_server(settings.smtp_url)
    assert (server.hostname, server.port, server.use_tls, server.password) == ("mail.example", 465, True, "p@ss")
    with pytest.raises(SettingsError, match="BROKER_SMTP_URL"):
        Settings.from_environ({"BROKER_SECRET_KEY": "k" * 40, "BROKER_SMTP_URL": "http://mail.example"})


async def test_an_smtp_server_that_does_not_answer_is_a_clear_error(services: Services) -> None:
    sock = bind_loopback()  # bound, never listening: the connection is refused
    host, port = sock.getsockname()[:2]
    mailer = Mailer(replace(services.settings, smtp_url=f"smtp://{host}:{port}"), services.database)
    try:
        with pytest.raises(MailNotSent, match="did not accept"):
            await mailer.send(a_mail())
    finally:
        sock.close()
