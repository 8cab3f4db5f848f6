"""Tenants (tool vendors), their signing keys (their own, platform-bound and spare ones) and API keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.database import Base, new_id, utcnow


class ActivationPolicy(StrEnum):
    """Whether a tenant's new registrations launch at once, or wait (pending) until the tenant activates them."""

    ACTIVE = "active"
    PENDING = "pending"


class KeyStatus(StrEnum):
    """A signing key's life: published ahead as `next`, signing while `active`, published a while as `retired`."""

    NEXT = "next"
    ACTIVE = "active"
    RETIRED = "retired"


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ten"))
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tool_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # After a secret rotation the previous secret keeps signing, beside the new one, until this time.
    webhook_secret_previous_encrypted: Mapped[str | None] = mapped_column(Text)
    webhook_secret_previous_expires_at: Mapped[datetime | None] = mapped_column()
    # The number of the tenant's last event; taken under this row's lock, so numbers commit in order.
    event_sequence: Mapped[int] = mapped_column(default=0, server_default="0")
    tool_configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    review_registrations: Mapped[bool] = mapped_column(default=True)
    activation_policy: Mapped[str] = mapped_column(String(20), default=ActivationPolicy.ACTIVE)
    accept_new_deployments: Mapped[bool] = mapped_column(default=True)
    # Set by an operator: registration, launch and API requests are refused until it is cleared; nothing is deleted.
    suspended_at: Mapped[datetime | None] = mapped_column()
    # The tenant's own host name (lti.acme.com): its URLs are advertised there. See TenantHostname.
    hostname: Mapped[str | None] = mapped_column(String(253))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    signing_keys: Mapped[list[SigningKey]] = relationship(back_populates="tenant", lazy="raise")


class ReadOnlyTenant(Protocol):
    """What the registration pages read of a tenant, and may not change: a `Tenant` gives it, and so does the
    frozen copy of its row those pages share between requests (`tenants.snapshots.TenantSnapshot`)."""

    @property
    def id(self) -> str: ...
    @property
    def slug(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def hostname(self) -> str | None: ...
    @property
    def tool_configuration(self) -> Mapping[str, Any]: ...
    @property
    def review_registrations(self) -> bool: ...
    @property
    def activation_policy(self) -> str: ...
    @property
    def suspended_at(self) -> datetime | None: ...


class TenantHostname(Base):
    """Every host name a tenant has had, the current one included. A name keeps serving its tenant after the
    tenant moves to another (registrations made on it use it until their LMS is updated), and is never given
    to another tenant.
    """

    __tablename__ = "tenant_hostnames"

    hostname: Mapped[str] = mapped_column(String(253), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class _KeyPair:
    """An RSA key pair; the private half is stored encrypted with the broker's secret key."""

    kid: Mapped[str] = mapped_column(String(100), unique=True)
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class _PublishedKey(_KeyPair):
    """A key pair published in a JWKS, with where it is in its life (a KeyStatus)."""

    status: Mapped[str] = mapped_column(String(20))  # a KeyStatus
    activated_at: Mapped[datetime | None] = mapped_column()
    retired_at: Mapped[datetime | None] = mapped_column()


class SigningKey(_PublishedKey, Base):
    """A key of the tenant's own JWKS: it signs the launch tokens the tool verifies (and, for registrations made
    before platform-bound keys, their client assertions and Deep Linking responses)."""

    __tablename__ = "signing_keys"
    __table_args__ = (Index(None, "tenant_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))

    tenant: Mapped[Tenant] = relationship(back_populates="signing_keys", lazy="raise")


class PlatformSigningKey(_PublishedKey, Base):
    """A key bound to one (tenant, platform issuer): it signs what only that platform verifies (client
    assertions, Deep Linking responses) and is published at that platform's own JWKS URL. `key_set` names the
    binding (tenants.keys.platform_key_set)."""

    __tablename__ = "platform_signing_keys"
    __table_args__ = (Index(None, "tenant_id", "key_set", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    key_set: Mapped[str] = mapped_column(String(64))


class SpareSigningKey(_KeyPair, Base):
    """A key pair generated ahead by the background loop, so that no request waits for RSA key generation."""

    __tablename__ = "spare_signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)


class ApiKey(Base):
    """A bearer key for the pull API; only its SHA-256 digest is kept (the key itself is high-entropy)."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("digest"), Index(None, "tenant_id"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("key"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), default="default")
    prefix: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
