"""Registrations with platforms, their deployments, and the record of every registration attempt."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.database import Base, new_id, utcnow
from broker.registration.platform_configuration import PRODUCT_FAMILY_CODE_LENGTH, VERSION_LENGTH
from broker.stored_text import IDENTIFIER_LENGTH, URL_LENGTH


class RegistrationStatus(StrEnum):
    ACTIVE = "active"
    # Registered, but launches wait until the tenant activates it (the tenant's activation policy).
    PENDING = "pending"
    DISABLED = "disabled"


class AttemptStatus(StrEnum):
    """fetching -> reviewing (when the tenant reviews) -> submitting -> succeeded | failed | conflict.

    `conflict`: the platform answered with an (issuer, client_id) another tenant holds; nothing was stored.
    `interrupted`: fetching or submitting made no progress for longer than any step takes (the process
    stopped between two steps); the background loop marks it so (see attempts.interrupt_stalled).
    """

    FETCHING = "fetching"
    REVIEWING = "reviewing"
    SUBMITTING = "submitting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CONFLICT = "conflict"
    INTERRUPTED = "interrupted"


# One live registration per (issuer, client_id) across all tenants: a platform's client belongs to one tool.
# Disabled rows are left out so that duplicates made before the rule existed can be kept, disabled.
LIVE_REGISTRATION = text("status != 'disabled'")


# An attempt that never got an answer from the platform's registration endpoint, nor made a registration.
ABANDONED_ATTEMPT = text("response_status IS NULL AND registration_id IS NULL")
# The statuses of a failed attempt, as the operator sees them: a conflict (an LMS answered with another tenant's
# client) too, and an attempt cut off by a broker restart (the platform may hold a registration the broker never
# heard of). Also the condition of SQLite's index of them, which a registration that succeeds never enters; one
# IN term, which a query repeats to read that index (SQLite reads a partial index whose condition a term matches).
FAILURES = (AttemptStatus.FAILED, AttemptStatus.CONFLICT, AttemptStatus.INTERRUPTED)
FAILED_ATTEMPT = text(f"status IN ({', '.join(repr(str(status)) for status in FAILURES)})")
# An attempt that made or updated a registration.
REGISTERED_ATTEMPT = text("registration_id IS NOT NULL")


class DeploymentSource(StrEnum):
    """How the broker learnt a deployment: from the registration answer, or from its first launch."""

    REGISTRATION = "registration"
    LAUNCH = "launch"


class Registration(Base):
    """One (tenant, issuer, client_id); never keyed on issuer alone: Canvas Cloud schools share one.

    An (issuer, client_id) never belongs to two tenants (see LIVE_REGISTRATION).
    """

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "issuer", "client_id"),
        Index(None, "issuer", "client_id"),
        # The API's pages (`tenant_id = ? [AND filter] AND id > cursor ORDER BY id LIMIT n`) read one page of
        # index entries, whatever the filter and however many registrations the tenant holds; `updated_since`
        # (a tool polling for changes) reads only what changed (bench/scale.py prints the plans).
        Index(None, "tenant_id", "id"),
        Index(None, "tenant_id", "status", "id"),
        Index(None, "tenant_id", "product_family_code", "id"),
        Index(None, "tenant_id", "updated_at"),
        Index(
            "uq_registrations_live_client",
            "issuer",
            "client_id",
            unique=True,
            sqlite_where=LIVE_REGISTRATION,
            postgresql_where=LIVE_REGISTRATION,
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("reg"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    issuer: Mapped[str] = mapped_column(String(URL_LENGTH))
    client_id: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH))
    status: Mapped[str] = mapped_column(String(20))  # a RegistrationStatus
    product_family_code: Mapped[str | None] = mapped_column(String(PRODUCT_FAMILY_CODE_LENGTH))
    # The platform profile that shaped the registration, and what it changed (e.g. Blackboard's issuer).
    platform_profile: Mapped[str | None] = mapped_column(String(40))
    adaptations: Mapped[list[Any] | None] = mapped_column()
    platform_version: Mapped[str | None] = mapped_column(String(VERSION_LENGTH))
    authorization_endpoint: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    token_endpoint: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    authorization_server: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    jwks_uri: Mapped[str] = mapped_column(String(URL_LENGTH))
    registration_endpoint: Mapped[str] = mapped_column(String(URL_LENGTH))
    # The exact endpoints whose query carries a secret-looking value, encrypted (broker/registration/endpoints.py);
    # the endpoint columns then hold display copies. None when every endpoint column is exact.
    endpoint_secrets: Mapped[str | None] = mapped_column(Text)
    # The platform-bound key set whose JWKS URL the platform was given (tenants.keys); None for registrations
    # made before keys were bound to platforms: they keep the tenant's own key until registered again.
    key_set: Mapped[str | None] = mapped_column(String(64))
    # Hosts of LMS pages that started a login which then completed a launch: logins from them go straight on
    # (broker.launch.login_origin).
    login_hosts: Mapped[list[Any] | None] = mapped_column()
    scopes_requested: Mapped[list[Any]] = mapped_column(default=list)
    scopes_granted: Mapped[list[Any]] = mapped_column(default=list)
    platform_configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    registration_request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    registration_response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    verified_at: Mapped[datetime | None] = mapped_column()
    launched_at: Mapped[datetime | None] = mapped_column()
    # Set when the platform answered `invalid_scope` for scopes it granted at registration: what it refused,
    # when, and its words. The registration's scopes have drifted, and an admin should look.
    scope_drift: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="registration", lazy="selectin", order_by="Deployment.id"
    )


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("registration_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH))
    source: Mapped[str] = mapped_column(String(20))  # a DeploymentSource
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    registration: Mapped[Registration] = relationship(back_populates="deployments", lazy="raise")


class RegistrationAttempt(Base):
    """Every registration attempt with its outcome and what was exchanged (tokens never stored)."""

    __tablename__ = "registration_attempts"
    # An attempt is written four times in a flow, and each index whose columns (or partial condition) a write
    # changes is a page of that write's commit. On SQLite, whose migrations may drop (migrations 0017, 0019), the
    # attempt carries no index no statement reads, and as few entries as can be that every step moves; PostgreSQL
    # keeps the indexes its running processes were deployed with (its migrations only add).
    __table_args__ = (
        # Read by no statement; PostgreSQL keeps it.
        Index(None, "tenant_id", "created_at").ddl_if(dialect="postgresql"),
        # The API's pages, as for registrations.
        Index(None, "tenant_id", "id"),
        Index(None, "tenant_id", "status", "id").ddl_if(dialect="postgresql"),
        # The interrupted-attempt sweep: attempts of one status last changed before a time (a few rows at most);
        # and the operator's recent failures, newest first.
        Index(None, "status", "updated_at").ddl_if(dialect="postgresql"),
        # On SQLite the status filter's index leads with the status, so that the sweep reads it too (its statuses,
        # fetching and submitting, hold the attempts in flight only), and the failures' index holds failures only:
        # a step moves one status entry where it moved two.
        Index(None, "status", "tenant_id", "id").ddl_if(dialect="sqlite"),
        Index(
            "ix_registration_attempts_failed_updated_at", "status", "updated_at", sqlite_where=FAILED_ATTEMPT
        ).ddl_if(dialect="sqlite"),
        # A registration's history: its attempts. On SQLite only those that made one are in it, so opening an
        # attempt writes no entry there (`registration_id = ?` implies the condition).
        Index(None, "registration_id").ddl_if(dialect="postgresql"),
        Index(
            "ix_registration_attempts_registered", "registration_id", sqlite_where=REGISTERED_ATTEMPT
        ).ddl_if(dialect="sqlite"),
        # The pruning of abandoned attempts reads only them (attempts.prune_abandoned). On SQLite by when they
        # began, which no step changes: their entry is written when one opens and deleted when the platform
        # answers, where an `updated_at` entry moved at every step.
        Index(
            "ix_registration_attempts_abandoned_updated_at",
            "updated_at",
            postgresql_where=ABANDONED_ATTEMPT,
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_registration_attempts_abandoned_created_at", "created_at", sqlite_where=ABANDONED_ATTEMPT
        ).ddl_if(dialect="sqlite"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("att"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))  # an AttemptStatus
    openid_configuration_url: Mapped[str] = mapped_column(String(URL_LENGTH))
    issuer: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    product_family_code: Mapped[str | None] = mapped_column(String(PRODUCT_FAMILY_CODE_LENGTH))
    platform_profile: Mapped[str | None] = mapped_column(String(40))
    platform_configuration: Mapped[dict[str, Any] | None] = mapped_column()
    registration_request: Mapped[dict[str, Any] | None] = mapped_column()
    response_status: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_detail: Mapped[str | None] = mapped_column(Text)
    registration_id: Mapped[str | None] = mapped_column(ForeignKey("registrations.id", ondelete="SET NULL"))
    # How many Verify forms of this attempt's confirmation page were used: each form works once (its number is
    # this count when it was made), and a failed verification offers the next one.
    verify_uses: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
