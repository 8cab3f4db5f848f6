"""Outgoing mail (account links, invitations): over SMTP when BROKER_SMTP_URL is set; in development
without it, kept in a database outbox that the operator console shows (never in production).
"""

from __future__ import annotations

import email.utils
import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from broker.database import Base, Database, new_id, utcnow
from broker.settings import Settings

logger = logging.getLogger("broker.mail")

SMTP_TIMEOUT = 10.0


class DevelopmentMail(Base):
    """A mail that was not sent because no SMTP server is configured (development only)."""

    __tablename__ = "development_mail"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("mail"))
    sender: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class MailNotSent(Exception):
    """The mail could not be handed to the SMTP server; the message says why (never the mail's content)."""


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None


def smtp_server(url: str) -> SmtpServer:
    """`smtp://[user:password@]host[:port]` (STARTTLS when the server offers it; port 587 by default) or
    `smtps://…` (TLS from the first byte; port 465 by default)."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ValueError("BROKER_SMTP_URL must look like smtp://user:password@mail.example.com:587 or smtps://…")
    use_tls = parts.scheme == "smtps"
    return SmtpServer(
        hostname=parts.hostname,
        port=parts.port or (465 if use_tls else 587),
        use_tls=use_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class Mailer:
    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database

    async def send(self, mail: Mail) -> None:
        if self.settings.smtp_url:
            await self._send_smtp(mail)
        elif self.settings.is_production:
            # Settings refuse to start production without BROKER_SMTP_URL; this guards any other way in.
            raise MailNotSent("BROKER_SMTP_URL is not set, and production never keeps mail in a development outbox.")
        else:
            await self._keep(mail)

    async def development_outbox(self, limit: int = 50) -> list[DevelopmentMail]:
        async with self.database.session() as session:
            query = select(DevelopmentMail).order_by(DevelopmentMail.created_at.desc()).limit(limit)
            return list((await session.scalars(query)).all())

    async def _send_smtp(self, mail: Mail) -> None:
        server = smtp_server(self.settings.smtp_url)
        try:
            await aiosmtplib.send(
                self._message(mail),
                hostname=server.hostname,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.use_tls,
                timeout=SMTP_TIMEOUT,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            logger.warning("mail to %s (%s) not sent: %s", mail.to, mail.subject, type(error).__name__)
            raise MailNotSent("The mail server did not accept the mail; try again in a few minutes.") from error
        logger.info("mail to %s (%s) sent", mail.to, mail.subject)

    async def _keep(self, mail: Mail) -> None:
        async with self.database.transaction() as session:
            session.add(
                DevelopmentMail(
                    sender=self.settings.mail_sender, recipient=mail.to, subject=mail.subject, body=mail.body
                )
            )
        # The body holds single-use links, which never go to a log: it is read in the operator console.
        logger.warning(
            "mail to %s (%s) kept in the development outbox, not sent: BROKER_SMTP_URL is not set. "
            "Read it in the operator console at /admin/mail.",
            mail.to,
            mail.subject,
        )

    def _message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = email.utils.formatdate(localtime=False)
        message["Message-ID"] = email.utils.make_msgid(domain=urlsplit(self.settings.base_url).hostname)
        message.set_content(mail.body)
        return message
