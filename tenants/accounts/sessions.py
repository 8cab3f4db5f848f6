"""Console sessions, kept in the database so that any broker process knows them and a sign-out or a password
change ends them everywhere. The browser holds a random token; the database its SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from broker.database import Database, utcnow
from tenants.accounts.models import Account, ConsoleSession

# A working day: long enough not to interrupt a person's work, short enough that a forgotten browser closes.
SESSION_LIFETIME = timedelta(hours=12)
MAX_TOKEN_LENGTH = 100


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def start(self, account_id: str, *, replacing: str | None = None) -> str:
        """A new session's token. The session the browser had (`replacing`) ends, so a token planted in the
        browser before signing in is worth nothing after (session fixation)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.database.transaction() as session:
            if replacing:
                await session.execute(delete(ConsoleSession).where(ConsoleSession.digest == _digest(replacing)))
            # Expired sessions of this account go at each sign-in, so the table does not grow without end.
            await session.execute(
                delete(ConsoleSession).where(ConsoleSession.account_id == account_id, ConsoleSession.expires_at <= now)
            )
            session.add(ConsoleSession(digest=_digest(token), account_id=account_id, expires_at=now + SESSION_LIFETIME))
        return token

    async def account(self, token: str | None) -> Account | None:
        """The signed-in account of this token, or None (no such session, or expired)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        async with self.database.session() as session:
            return await session.scalar(
                select(Account)
                .join(ConsoleSession, ConsoleSession.account_id == Account.id)
                .where(ConsoleSession.digest == _digest(token), ConsoleSession.expires_at > utcnow())
            )

    async def end(self, token: str | None) -> None:
        if token and len(token) <= MAX_TOKEN_LENGTH:
            async with self.database.transaction() as session:
                await session.execute(delete(ConsoleSession).where(ConsoleSession.digest == _digest(token)))

    async def end_all(self, account_id: str) -> None:
        """Signs the account out everywhere (its password changed)."""
        async with self.database.transaction() as session:
            await session.execute(delete(ConsoleSession).where(ConsoleSession.account_id == account_id))
