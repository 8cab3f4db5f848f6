"""Service tokens for tenant tools: the client_credentials grant at a registration's token endpoint, cached
per registration and scope set in the database (so every broker process shares one token), and the proof
that a registration works ("verify": a fresh grant with the scopes the platform granted).

The grant's documents are built and read by `broker.tokens.grant`; this service owns the I/O and the rules.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from broker.database import Database, changed_rows, utcnow
from broker.http_client import GuardedClient, OutboundError, OutboundTimeoutError, Purpose
from broker.registration import attempts
from broker.registration.endpoints import called_endpoint
from broker.registration.models import Registration, RegistrationStatus
from broker.registration.profiles.selection import profile_named
from broker.sealed_state import StateError, StateSealer
from broker.settings import Settings
from broker.tokens import errors
from broker.tokens.grant import (
    AccessToken,
    TokenGrantError,
    build_client_assertion,
    parse_token_response,
    token_request_form,
)
from broker.tokens.models import PlatformToken
from tenants.encryption import SecretBox
from tenants.keys import KeyRing
from tenants.models import ReadOnlyTenant

logger = logging.getLogger("broker.tokens")

# A cached token is handed out until this long before it expires, so a tool never gets an almost-dead one.
EXPIRY_MARGIN = 60
MAX_SCOPES = 50
MAX_SCOPE_LENGTH = 1024
VERIFY_FORM_MAX_AGE = 24 * 3600
# Verify forms one confirmation page may use in all: the first, and one more after each failure (the admin
# enables the tool in the LMS, then tries again).
MAX_VERIFY_FORMS = 5


class Verifiable(Protocol):
    """What the Verify button needs of a registration: a stored one, or the one a flow just stored (plain values)."""

    @property
    def id(self) -> str: ...

    @property
    def scopes_granted(self) -> list[Any]: ...

    @property
    def token_endpoint(self) -> str | None: ...


@dataclass(frozen=True)
class Verification:
    registration: Registration
    token: AccessToken


def normalize_scopes(value: object) -> tuple[str, ...]:
    """The requested scopes as a set: sorted, without duplicates; a token is cached per such set."""
    if not isinstance(value, list) or not value:
        raise errors.BadScopes("`scopes` must be a non-empty array of scope strings.")
    if len(value) > MAX_SCOPES:
        raise errors.BadScopes(f"At most {MAX_SCOPES} scopes may be asked for at once.")
    for scope in value:
        if (
            not isinstance(scope, str)
            or not scope
            or len(scope) > MAX_SCOPE_LENGTH
            or any(character.isspace() for character in scope)
        ):
            raise errors.BadScopes("Each scope must be a non-empty string without spaces.")
    return tuple(sorted(set(value)))


def scope_key(scopes: Sequence[str]) -> str:
    return hashlib.sha256(" ".join(scopes).encode()).hexdigest()


class TokenService:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        client: GuardedClient,
        secret_box: SecretBox,
        key_ring: KeyRing,
    ) -> None:
        self.database = database
        self.client = client
        self.secret_box = secret_box
        self.key_ring = key_ring
        self._sealer = StateSealer(settings.secret_key, "registration-verify")

    async def token(self, tenant: ReadOnlyTenant, registration_id: str, requested: object) -> AccessToken:
        """A token for the scopes: the shared cached one while it is usable, else a fresh grant."""
        scopes = normalize_scopes(requested)
        registration = await self._registration(tenant, registration_id)
        cached = await self._cached(registration.id, scopes)
        if cached is not None:
            return cached
        return await self._grant(tenant, registration, scopes)

    async def verify(self, tenant: ReadOnlyTenant, registration_id: str) -> Verification:
        """A fresh grant with every service scope the platform granted: proof the registration works now."""
        registration = await self._registration(tenant, registration_id)
        scopes = service_scopes(registration)
        if not scopes:
            raise errors.NothingToVerify(
                "The platform granted no service scopes, so no token can be asked for; the registration's "
                "first launch verifies it (see launched_at)."
            )
        token = await self._grant(tenant, registration, scopes)
        return Verification(await self._registration(tenant, registration_id), token)

    # ----------------------------------------------------------------- the confirmation page's Verify button
    def verify_form_state(
        self, tenant: ReadOnlyTenant, registration: Verifiable, attempt_id: str, number: int = 0
    ) -> str | None:
        """The sealed form field of the Verify button: it can verify this one registration, once, for a day.
        None when no token can be asked for (no service scopes or no token endpoint): the first launch verifies.
        `number` counts the forms of the attempt's confirmation page; a failed verification offers the next.
        """
        if not service_scopes(registration) or not registration.token_endpoint or number >= MAX_VERIFY_FORMS:
            return None
        return self._sealer.seal(
            {"tenant": tenant.id, "registration": registration.id, "attempt": attempt_id, "number": number}
        )

    async def verify_form(self, tenant: ReadOnlyTenant, form_state: str) -> Verification:
        """Verifies the form's registration; the form is spent first, so it never verifies twice."""
        state = self._verify_state(tenant, form_state)
        spent = await attempts.claim_verify_form(
            self.database, tenant.id, state["attempt"], state["registration"], state["number"]
        )
        if not spent:
            raise errors.VerifyFormExpired("This Verify button was already used.")
        return await self.verify(tenant, state["registration"])

    async def next_verify_form_state(self, tenant: ReadOnlyTenant, form_state: str) -> str | None:
        """After a failed verification, the form that may try again (None once MAX_VERIFY_FORMS were used)."""
        try:
            state = self._verify_state(tenant, form_state)
            registration = await self._registration(tenant, state["registration"])
        except errors.TokenRefused:
            return None
        return self.verify_form_state(tenant, registration, state["attempt"], state["number"] + 1)

    def _verify_state(self, tenant: ReadOnlyTenant, form_state: str) -> dict[str, Any]:
        try:
            state = self._sealer.unseal(form_state, max_age=VERIFY_FORM_MAX_AGE)
        except StateError as error:
            raise errors.VerifyFormExpired("Open the registration page again.") from error
        if state.get("tenant") != tenant.id:
            raise errors.VerifyFormExpired("This form belongs to another tool's registration.")
        if not all(isinstance(state.get(name), str) for name in ("registration", "attempt")) or not isinstance(
            state.get("number"), int
        ):
            raise errors.VerifyFormExpired("Open the registration page again.")
        return state

    # ----------------------------------------------------------------- internals
    async def _registration(self, tenant: ReadOnlyTenant, registration_id: str) -> Registration:
        async with self.database.session() as session:
            registration = await session.scalar(
                select(Registration).where(Registration.id == registration_id, Registration.tenant_id == tenant.id)
            )
        if registration is None:
            raise errors.RegistrationNotFound("No registration with this id belongs to your tenant.")
        if registration.status == RegistrationStatus.DISABLED:
            raise errors.RegistrationDisabled("Enable the registration before asking for tokens.")
        if not registration.token_endpoint:
            raise errors.NoTokenEndpoint("The platform published no token endpoint when it registered.")
        return registration

    async def _cached(self, registration_id: str, scopes: Sequence[str]) -> AccessToken | None:
        now = utcnow()
        async with self.database.session() as session:
            row = await session.scalar(
                select(PlatformToken).where(
                    PlatformToken.registration_id == registration_id,
                    PlatformToken.scope_key == scope_key(scopes),
                    PlatformToken.usable_until > now,
                )
            )
        if row is None:
            return None
        return AccessToken(
            access_token=self.secret_box.decrypt(row.access_token_encrypted),
            token_type=row.token_type,
            expires_in=max(0, int((row.expires_at - now).total_seconds())),
            scope=row.scope,
        )

    async def _grant(self, tenant: ReadOnlyTenant, registration: Registration, scopes: Sequence[str]) -> AccessToken:
        token_endpoint = called_endpoint(registration, "token_endpoint", self.secret_box) or ""
        # The key bound to this registration's platform (the tenant's own for registrations made before).
        keys = await self.key_ring.get(tenant.slug, registration.key_set)
        if keys is None or keys.signing_key is None:
            raise errors.NoSigningKey("The tenant has no active signing key for this platform.")
        assertion = build_client_assertion(
            client_id=registration.client_id,
            audience=profile_named(registration.platform_profile or "generic").client_assertion_audience(
                token_endpoint, registration.authorization_server
            ),
            signing_key=keys.signing_key,
            now=time.time(),
        )
        try:
            response = await self.client.post_form(
                token_endpoint,
                token_request_form(assertion, scopes),
                purpose=Purpose.SERVICE_TOKENS,
                headers={"Accept": "application/json"},
            )
            token = parse_token_response(
                response.status_code, response.content, response.headers.get("content-type"), requested_scopes=scopes
            )
        except OutboundTimeoutError as error:
            raise errors.TokenEndpointTimeout(f"{error.reason}.") from error
        except OutboundError as error:
            raise errors.TokenEndpointFailed(f"{error.reason}.") from error
        except TokenGrantError as error:
            raise await self._refusal(registration, scopes, error) from error
        await self._store(registration, scopes, token)
        return token

    async def _refusal(
        self, registration: Registration, scopes: Sequence[str], error: TokenGrantError
    ) -> errors.TokenRefused:
        words = f"{error.error}: {error.description}" if error.description else error.error
        logger.warning("token grant refused for registration %s: HTTP %s %r", registration.id, error.status_code, words)
        if error.error == "invalid_scope":
            await self._record_scope_drift(registration, scopes, error)
            return errors.ScopesRefused(f"The platform answered {words}")
        return errors.GrantRefused(f"The platform answered HTTP {error.status_code}, {words}")

    async def _record_scope_drift(
        self, registration: Registration, scopes: Sequence[str], error: TokenGrantError
    ) -> None:
        drift = {
            "detected_at": utcnow().isoformat().replace("+00:00", "Z"),
            "scopes": list(scopes),
            "error": error.error,
            "description": error.description,
        }
        async with self.database.transaction() as session:
            await session.execute(
                update(Registration)
                .where(Registration.id == registration.id)
                .values(scope_drift=drift, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    async def _store(self, registration: Registration, scopes: Sequence[str], token: AccessToken) -> None:
        """One row per (registration, scope set): a new grant replaces the old token; verified_at records it."""
        now = utcnow()
        values = {
            "access_token_encrypted": self.secret_box.encrypt(token.access_token),
            "token_type": token.token_type[:40],
            "scope": token.scope,
            "expires_at": now + timedelta(seconds=token.expires_in),
            "usable_until": _usable_until(now, token.expires_in),
            "created_at": now,
        }
        key = scope_key(scopes)
        try:
            async with self.database.transaction() as session:
                replaced = await session.execute(
                    update(PlatformToken)
                    .where(PlatformToken.registration_id == registration.id, PlatformToken.scope_key == key)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if changed_rows(replaced) == 0:
                    session.add(PlatformToken(registration_id=registration.id, scope_key=key, **values))
                await session.execute(
                    update(Registration)
                    .where(Registration.id == registration.id)
                    .values(verified_at=now)
                    .execution_options(synchronize_session=False)
                )
        except IntegrityError:
            logger.info("a concurrent grant cached a token for registration %s first", registration.id)


def service_scopes(registration: Verifiable) -> tuple[str, ...]:
    """The scopes a token can be asked for: what the platform granted, `openid` aside (it is not a service)."""
    return tuple(sorted({scope for scope in registration.scopes_granted if scope != "openid"}))


def _usable_until(now: datetime, expires_in: int) -> datetime:
    # Short-lived tokens keep half their life, so that a margin never exceeds the token itself.
    margin = min(EXPIRY_MARGIN, expires_in // 2)
    return now + timedelta(seconds=expires_in - margin)
