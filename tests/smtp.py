"""A real SMTP server for tests (aiosmtpd) on 127.0.0.1, in a thread of its own, keeping what it receives.

The socket is bound before the server starts (port 0, the kernel picks), so there is no race for a port.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.emulators.server import bind_loopback

WAIT_SECONDS = 10.0
_POLL_SECONDS = 0.02


@dataclass
class Mailbox:
    url: str
    messages: list[EmailMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def wait_for(self, to: str, subject_part: str = "") -> EmailMessage:
        """The first mail to this address (with this in its subject), waiting at most WAIT_SECONDS."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            with self._lock:
                for message in self.messages:
                    if message["To"] == to and subject_part in message["Subject"]:
                        return message
            time.sleep(_POLL_SECONDS)
        raise AssertionError(f"no mail to {to} with {subject_part!r} in its subject within {WAIT_SECONDS} s")

    async def async_wait_for(self, to: str, subject_part: str = "") -> EmailMessage:
        return await asyncio.to_thread(self.wait_for, to, subject_part)


def link_in(message: EmailMessage, path: str) -> str:
    """The link to `path` in the mail's text."""
    body = message.get_content()
    found = re.search(r"(https?://\S+" + re.escape(path) + r"\?token=[\w-]+)", body)
    assert found, f"no {path} link in the mail:\n{body}"
    return found.group(1)


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    sock = bind_loopback()
    host, port = sock.getsockname()[:2]
    box = Mailbox(url=f"smtp://{host}:{port}")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    server: asyncio.AbstractServer | None = None

    def run() -> None:
        nonlocal server
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(loop.create_server(lambda: SMTP(box, hostname="mail.test"), sock=sock))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="smtp", daemon=True)
    thread.start()
    assert started.wait(WAIT_SECONDS), "the SMTP server did not start"
    yield box

    def stop() -> None:
        assert server is not None
        server.close()
        loop.stop()

    loop.call_soon_threadsafe(stop)
    thread.join(WAIT_SECONDS)
