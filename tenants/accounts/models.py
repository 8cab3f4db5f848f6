"""Accounts, tenant memberships, console sessions, single-use e-mail links and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broker.database import Base, new_id, utcnow


class Account(Base):
    """A person who signs in: a tool vendor's staff (`vendor`) or an operator of the broker (`operator`).

    The two kinds never share credentials: an e-mail may have one account of each, signing in at different pages.
    """

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("kind", "email"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("acc"))
    kind: Mapped[str] = mapped_column(String(20))  # vendor | operator
    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, in its PHC string format
    email_verified_at: Mapped[datetime | None] = mapped_column()
    # Consecutive failed sign-ins; at the limit the account is locked until `locked_until`.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column()
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    """A vendor account's role in a tenant: `owner` (everything, including inviting people) or `member`."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("tenant_id", "account_id"), Index(None, "account_id"))

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    """A signed-in browser. The cookie holds a random value; only its SHA-256 digest is stored."""

    __tablename__ = "console_sessions"
    __table_args__ = (UniqueConstraint("digest"), Index(None, "account_id"))

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class AccountLink(Base):
    """A single-use, expiring link sent by e-mail: verify an address, reset a password, or join a tenant.

    Only the SHA-256 digest of the link's token is stored; `used_at` is set by one conditional UPDATE.
    """

    __tablename__ = "account_links"
    __table_args__ = (UniqueConstraint("digest"), Index(None, "account_id"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("lnk"))
    digest: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(20))  # verify_email | reset_password | invitation
    email: Mapped[str] = mapped_column(String(320))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Invitations: the tenant joined, the role given and who invited.
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    role: Mapped[str | None] = mapped_column(String(20))
    invited_by: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class AuditEvent(Base):
    """Something a person did in a console: who (the e-mail, kept even if the account goes), what, to which tenant."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("aud"))
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    client_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
