"""Single-use, expiring links sent by e-mail. The token (256 random bits) is in the link only; the database
keeps its SHA-256 digest, and spending it is one conditional UPDATE, so of two clicks one wins.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.database import changed_rows, utcnow
from tenants.accounts.models import AccountLink


class Purpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a password
    INVITATION = "invitation"


LIFETIMES = {
    Purpose.VERIFY_EMAIL: timedelta(hours=48),
    # Short: whoever holds a reset link holds the account.
    Purpose.RESET_PASSWORD: timedelta(hours=1),
    Purpose.INVITATION: timedelta(days=7),
}
MAX_TOKEN_LENGTH = 100


class LinkError(Exception):
    """The link cannot be used; `reason` is `unknown`, `used` or `expired`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IssuedLink:
    token: str
    link: AccountLink


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(session: AsyncSession, purpose: Purpose, email: str, **fields: Any) -> IssuedLink:
    token = secrets.token_urlsafe(32)
    link = AccountLink(
        digest=_digest(token), purpose=purpose, email=email, expires_at=utcnow() + LIFETIMES[purpose], **fields
    )
    session.add(link)
    return IssuedLink(token, link)


async def find_link(session: AsyncSession, token: str, purpose: Purpose) -> AccountLink:
    """The link if it can still be used; LinkError saying why not otherwise."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkError("unknown")
    link = await session.scalar(
        select(AccountLink).where(AccountLink.digest == _digest(token), AccountLink.purpose == purpose)
    )
    if link is None:
        raise LinkError("unknown")
    if link.used_at is not None:
        raise LinkError("used")
    if link.expires_at <= utcnow():
        raise LinkError("expired")
    return link


async def spend_link(session: AsyncSession, token: str, purpose: Purpose) -> AccountLink:
    """Marks the link used, within the caller's transaction; LinkError when it cannot be used (any more)."""
    link = await find_link(session, token, purpose)
    now = utcnow()
    spent = await session.execute(
        update(AccountLink)
        .where(AccountLink.id == link.id, AccountLink.used_at.is_(None), AccountLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if changed_rows(spent) != 1:
        raise LinkError("used")
    link.used_at = now
    return link
