"""The tenant service: sign-up, lookup and API-key authentication; it owns the rules and the session."""

from __future__ import annotations

import base64
import builtins
import hmac
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import RSAKey
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from broker.database import Database, detached, utcnow
from broker.hostnames import HostnameError
from broker.http_client import OutboundConnectionError, UnsafeURLError, check_url_is_public
from broker.refusals import FieldError
from broker.settings import Settings
from tenants.api_keys import digest_api_key, generate_api_key, looks_like_api_key
from tenants.encryption import SecretBox
from tenants.hosts import check_custom_hostname
from tenants.key_generator import generate_signing_key, private_jwk_json
from tenants.keys import KeyRing, key_id, public_jwk
from tenants.models import ActivationPolicy, ApiKey, KeyStatus, SigningKey, Tenant, TenantHostname
from tenants.snapshots import TenantSnapshot, TenantSnapshots
from tenants.tool_configuration import ToolConfigurationError, parse_tool_configuration

_BY_SLUG = select(*Tenant.__table__.columns).where(Tenant.slug == bindparam("slug"))

SLUG_PATTERN = re.compile(r"^[a-z0-9-]{3,40}$")
# Slugs that name (or may one day name) the broker's own paths and hosts (`<slug>.BROKER_TENANT_DOMAIN`).
RESERVED_SLUGS = frozenset(
    {"admin", "api", "app", "assets", "console", "docs", "help", "login", "logout", "mail", "signup", "static",
     "status", "support", "t", "www"}
)
LAST_USED_RESOLUTION = timedelta(minutes=1)
# What `update` may change; the webhook URL and secret have their own methods.
SETTINGS = (
    "name",
    "tool_url",
    "tool_configuration",
    "review_registrations",
    "activation_policy",
    "accept_new_deployments",
    "hostname",
)
# How long the previous webhook secret keeps signing after a rotation: a day to deploy the new one.
WEBHOOK_SECRET_GRACE = timedelta(hours=24)


class TenantError(FieldError):
    """Bad tenant input; `field` names what to correct."""


@dataclass(frozen=True)
class CreatedTenant:
    tenant: Tenant
    api_key: str
    webhook_secret: str | None
    kid: str


@dataclass(frozen=True)
class WebhookEndpoint:
    tenant: Tenant
    secret: str | None  # only when a new secret was made: it is shown once
    previous_secret_expires_at: datetime | None


def generate_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class TenantService:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        secret_box: SecretBox,
        key_ring: KeyRing,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.database = database
        self.settings = settings
        self.secret_box = secret_box
        self.key_ring = key_ring
        # Each method that changes a tenant's row forgets its copy here once the change has committed (a tenant
        # being created has none: only tenants that exist are kept).
        self._snapshots = TenantSnapshots(database, clock=clock)

    async def create(
        self,
        slug: str,
        name: str,
        *,
        tool_url: str | None = None,
        webhook_url: str | None = None,
        tool_configuration: dict[str, Any] | None = None,
        also: Callable[[AsyncSession, Tenant], Awaitable[None]] | None = None,
    ) -> CreatedTenant:
        """A new tenant with its signing key and an API key; `also` adds rows (its first account) that
        commit with it or not at all."""
        slug = validate_slug(slug)
        name = _validate_name(name)
        configuration = _validate_tool_configuration(tool_configuration)
        tool_url = self._validate_url(tool_url, "tool_url")
        webhook_url = await self.check_webhook_url(webhook_url)
        api_key = generate_api_key()
        webhook_secret = generate_webhook_secret() if webhook_url else None
        signing_key = generate_signing_key()
        tenant = Tenant(
            slug=slug,
            name=name,
            tool_url=tool_url,
            webhook_url=webhook_url,
            webhook_secret_encrypted=self.secret_box.encrypt(webhook_secret) if webhook_secret else None,
            tool_configuration=configuration,
        )
        try:
            async with self.database.transaction() as session:
                session.add(tenant)
                await session.flush()
                session.add(ApiKey(tenant_id=tenant.id, prefix=api_key.prefix, digest=api_key.digest))
                session.add(_signing_key_row(tenant.id, signing_key, self.secret_box))
                if also is not None:
                    await also(session, tenant)
        except IntegrityError as error:
            raise TenantError("slug", f"{slug!r} is taken; choose another") from error
        self.key_ring.invalidate(slug)
        return CreatedTenant(tenant, api_key.plaintext, webhook_secret, key_id(signing_key))

    async def list(self) -> list[Tenant]:
        async with self.database.session() as session:
            return list((await session.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.id))).all())

    async def search(self, text: str, limit: int = 100) -> builtins.list[Tenant]:
        """Tenants whose slug or name contains the text (any case), newest first."""
        query = select(Tenant).order_by(Tenant.created_at.desc(), Tenant.id.desc()).limit(limit)
        if text := text.strip():
            query = query.where(
                Tenant.slug.icontains(text, autoescape=True) | Tenant.name.icontains(text, autoescape=True)
            )
        async with self.database.session() as session:
            return list((await session.scalars(query)).all())

    async def set_suspended(self, tenant_id: str, suspended: bool) -> Tenant:
        """Suspends (or resumes) the tenant: its registration, launch and API requests are refused meanwhile."""
        async with self.database.transaction() as session:
            tenant = await lock_tenant(session, tenant_id)
            if suspended != (tenant.suspended_at is not None):
                tenant.suspended_at = utcnow() if suspended else None
        self._snapshots.forget(tenant.slug)
        return tenant

    async def snapshot(self, slug: str) -> TenantSnapshot | None:
        """The tenant as the registration pages read it: a frozen copy, seen by them within
        `tenants.snapshots.SNAPSHOT_TTL` of another process's change and at once after this one's."""
        return await self._snapshots.get(slug)

    async def get_by_slug(self, slug: str) -> Tenant | None:
        """The tenant, read directly and given as the ORM gives an object whose session has closed: detached,
        every column loaded."""
        row = (await self.database.read(_BY_SLUG, {"slug": slug})).first()
        if row is None:
            return None
        return detached(Tenant, row._asdict())

    async def hostnames(self, tenant_id: str) -> builtins.list[str]:
        """Every host name the tenant has had, oldest first (each still serves it)."""
        async with self.database.session() as session:
            rows = await session.scalars(
                select(TenantHostname.hostname)
                .where(TenantHostname.tenant_id == tenant_id)
                .order_by(TenantHostname.created_at)
            )
            return list(rows)

    async def update(self, tenant_id: str, changes: Mapping[str, Any]) -> Tenant:
        """Changes the settings named in `changes` (see SETTINGS), all or none; a bad value names its field."""
        values = self._validate_settings(changes)
        try:
            async with self.database.transaction() as session:
                tenant = await lock_tenant(session, tenant_id)
                if values.get("hostname"):
                    await _claim_hostname(session, tenant, values["hostname"])
                for name, value in values.items():
                    setattr(tenant, name, value)
        except IntegrityError as error:
            if not values.get("hostname"):
                raise
            raise _hostname_taken(values["hostname"]) from error  # another tenant claimed it at the same moment
        self._snapshots.forget(tenant.slug)
        return tenant

    def _validate_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(changes) - set(SETTINGS))
        if unknown:
            raise TenantError(unknown[0], f"is not a setting; the settings are {', '.join(SETTINGS)}")
        validators: dict[str, Callable[[Any], Any]] = {
            "name": lambda value: _validate_name(_text(value, "name")),
            "tool_url": lambda value: self._validate_url(_optional_text(value, "tool_url"), "tool_url"),
            "tool_configuration": _tool_configuration_object,
            "review_registrations": lambda value: _flag(value, "review_registrations"),
            "activation_policy": _activation_policy,
            "accept_new_deployments": lambda value: _flag(value, "accept_new_deployments"),
            "hostname": self._validate_hostname,
        }
        return {name: validators[name](value) for name, value in changes.items()}

    async def authenticate(self, presented_key: str) -> Tenant | None:
        """The tenant whose live API key this is, or None."""
        if not looks_like_api_key(presented_key):
            return None
        digest = digest_api_key(presented_key)
        async with self.database.session() as session:
            row = await session.scalar(
                select(ApiKey).where(ApiKey.digest == digest, ApiKey.revoked_at.is_(None))
            )
            # Looked up by digest, so timing reveals nothing of the key; compare anyway, as defence in depth.
            if row is None or not hmac.compare_digest(row.digest, digest):
                return None
            tenant = await session.get(Tenant, row.tenant_id)
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            # A write transaction of its own: on SQLite, a read turned into a write fails at once with
            # 'database is locked' when another connection has written since the read began.
            async with self.database.transaction() as session:
                await session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        return tenant

    def webhook_secret(self, tenant: Tenant) -> str | None:
        if tenant.webhook_secret_encrypted is None:
            return None
        return self.secret_box.decrypt(tenant.webhook_secret_encrypted)

    def webhook_signing_secrets(self, tenant: Tenant, now: datetime) -> builtins.list[str]:
        """The secrets a delivery is signed with now: the current one, and the previous one in its grace period."""
        encrypted = [tenant.webhook_secret_encrypted]
        expires = tenant.webhook_secret_previous_expires_at
        if expires is not None and expires > now:
            encrypted.append(tenant.webhook_secret_previous_encrypted)
        return [self.secret_box.decrypt(value) for value in encrypted if value]

    async def check_webhook_url(self, value: str | None) -> str | None:
        """The webhook URL, refused now rather than at the first delivery if the guarded client would refuse it.

        A name that does not resolve yet is accepted (its DNS may come later); every delivery checks again.
        """
        url = self._validate_url(value, "webhook_url")
        if url is not None:
            try:
                await check_url_is_public(url, allow_insecure=self.settings.allow_insecure_platforms)
            except UnsafeURLError as error:
                raise TenantError("webhook_url", f"{error.reason}; webhooks go to public https addresses") from error
            except OutboundConnectionError:
                pass  # does not resolve (yet)
        return url

    async def set_webhook_url(self, tenant_id: str, value: str | None) -> WebhookEndpoint:
        """Sets (or, with None, removes) the webhook URL; a tenant's first URL comes with a new secret."""
        url = await self.check_webhook_url(value)
        secret = None
        async with self.database.transaction() as session:
            tenant = await lock_tenant(session, tenant_id)
            tenant.webhook_url = url
            if url is not None and tenant.webhook_secret_encrypted is None:
                secret = generate_webhook_secret()
                tenant.webhook_secret_encrypted = self.secret_box.encrypt(secret)
        self._snapshots.forget(tenant.slug)
        return WebhookEndpoint(tenant, secret, None)

    async def rotate_webhook_secret(self, tenant_id: str) -> WebhookEndpoint:
        """A new secret, shown once; the previous one keeps signing beside it for WEBHOOK_SECRET_GRACE."""
        secret = generate_webhook_secret()
        now = utcnow()
        async with self.database.transaction() as session:
            tenant = await lock_tenant(session, tenant_id)
            previous_until = now + WEBHOOK_SECRET_GRACE if tenant.webhook_secret_encrypted else None
            tenant.webhook_secret_previous_encrypted = tenant.webhook_secret_encrypted
            tenant.webhook_secret_previous_expires_at = previous_until
            tenant.webhook_secret_encrypted = self.secret_box.encrypt(secret)
        self._snapshots.forget(tenant.slug)
        return WebhookEndpoint(tenant, secret, previous_until)

    def _validate_hostname(self, value: Any) -> str | None:
        text = _optional_text(value, "hostname")
        if text is None or not text.strip():
            return None  # back to the subdomain or path; the names it had keep serving the tenant
        try:
            return check_custom_hostname(self.settings, text)
        except HostnameError as error:
            raise TenantError("hostname", str(error)) from error

    def _validate_url(self, value: str | None, field: str) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        allowed = {"https", "http"} if self.settings.allow_insecure_platforms else {"https"}
        # The broker's own pages (the demo tool) are trusted at whatever scheme the broker is served on.
        own = value.startswith(self.settings.base_url + "/")
        if (parts.scheme not in allowed and not own) or not parts.hostname or parts.fragment:
            raise TenantError(field, "must be an absolute https:// URL without a fragment")
        return value


async def lock_tenant(session: AsyncSession, tenant_id: str) -> Tenant:
    """The tenant, its row locked until the transaction ends: changes to one tenant's settings queue.

    FOR NO KEY UPDATE on PostgreSQL, which the foreign-key checks of rows referring to the tenant (FOR KEY SHARE)
    do not wait for, nor it for them: FOR UPDATE waited for every registration being recorded, and a check
    following the row's newer version could wait for it back, a deadlock. The lock still queues the tenant's
    changes, and none of them changes a key column (the id, the slug)."""
    tenant = await session.scalar(select(Tenant).where(Tenant.id == tenant_id).with_for_update(key_share=True))
    if tenant is None:
        raise TenantError("tenant", "no such tenant")
    return tenant


async def _claim_hostname(session: AsyncSession, tenant: Tenant, hostname: str) -> None:
    """Records the name as the tenant's for good, unless another tenant has (or had) it."""
    held = await session.get(TenantHostname, hostname)
    if held is None:
        session.add(TenantHostname(hostname=hostname, tenant_id=tenant.id))
        await session.flush()
    elif held.tenant_id != tenant.id:
        raise _hostname_taken(hostname)


def _hostname_taken(hostname: str) -> TenantError:
    return TenantError("hostname", f"{hostname!r} belongs to another tool at this broker; choose another name")


def validate_slug(slug: str) -> str:
    if not SLUG_PATTERN.match(slug or ""):
        raise TenantError("slug", "must be 3 to 40 characters of lowercase letters, digits and hyphens")
    if slug in RESERVED_SLUGS:
        raise TenantError("slug", f"{slug!r} is reserved for the broker's own pages; choose another")
    return slug


def _validate_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise TenantError("name", "must be 1 to 200 characters; it is the client_name LMS admins see")
    return name


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise TenantError(field, "must be text")
    return value


def _optional_text(value: Any, field: str) -> str | None:
    return None if value is None else _text(value, field)


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise TenantError(field, "must be true or false")
    return value


def _activation_policy(value: Any) -> str:
    if value not in tuple(ActivationPolicy):
        raise TenantError(
            "activation_policy", "must be 'active' (new registrations work at once) or 'pending' (until activated)"
        )
    return str(value)


def _tool_configuration_object(value: Any) -> dict[str, Any]:
    # The whole configuration is replaced; keys left out take their defaults.
    if not isinstance(value, Mapping):
        raise TenantError("tool_configuration", "must be a JSON object")
    # In the JSON form it is stored in (lists, not tuples), so the answer matches a later read.
    configuration: dict[str, Any] = json.loads(json.dumps(_validate_tool_configuration(dict(value))))
    return configuration


def _validate_tool_configuration(data: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return parse_tool_configuration(data).to_dict()
    except ToolConfigurationError as error:
        raise TenantError(f"tool_configuration.{error.field}", error.reason) from error


def _signing_key_row(tenant_id: str, key: RSAKey, secret_box: SecretBox) -> SigningKey:
    return SigningKey(
        tenant_id=tenant_id,
        kid=key_id(key),
        status=KeyStatus.ACTIVE,
        private_key_encrypted=secret_box.encrypt(private_jwk_json(key)),
        public_jwk=public_jwk(key),
        activated_at=utcnow(),
    )
