"""The Dynamic Registration flow: fetch and check the platform's configuration, let the LMS admin review,
submit the registration, and store the outcome.

Every attempt is recorded as it goes, each step in its own short transaction, so that a platform's answer
is on record even when a later step fails.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from broker import stored_text
from broker.database import Database
from broker.http_client import (
    GuardedClient,
    InvalidJSONError,
    OutboundError,
    OutboundResponse,
    OutboundTimeoutError,
    Purpose,
    UnsafeURLError,
)
from broker.redaction import redact_document
from broker.registration import attempts, errors, store
from broker.registration.models import AttemptStatus
from broker.registration.platform_configuration import PlatformConfiguration, PlatformConfigurationError
from broker.registration.preparation import (
    PreparedRegistration,
    prepare_registration,
    read_answer,
    read_tool_configuration,
)
from broker.registration.profiles.profile import PlatformProfile
from broker.registration.profiles.selection import read_platform_configuration
from broker.registration.request import RegistrationPlan, ToolEndpoints
from broker.registration.response import (
    RegistrationResponseError,
    platform_error_text,
)
from broker.sealed_state import StateError, StateSealer
from broker.settings import Settings
from broker.webhooks.wakeup import wake_this_process
from tenants.encryption import SecretBox
from tenants.hosts import LOGIN_PATH, TenantSite, site_of
from tenants.models import ReadOnlyTenant
from tenants.platform_bound_keys import KeyBinding, PlatformBoundKeys, platform_jwks_path

logger = logging.getLogger("broker.registration")

REVIEW_FORM_MAX_AGE = 30 * 60
MAX_RESPONSE_BODY = 20000
# What the broker uses of a platform's document, kept exact: only display copies are redacted.
EXACT_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint")


@dataclass(frozen=True)
class InitiationRequest:
    openid_configuration: str
    registration_token: str | None


@dataclass(frozen=True)
class Review:
    attempt_id: str
    platform: PlatformConfiguration
    plan: RegistrationPlan
    form_state: str
    # The platform's profile, and what it changed in the request, for the admin to see before sending.
    profile: PlatformProfile
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Completed:
    attempt_id: str
    registration: store.Registered
    created: bool
    platform: PlatformConfiguration
    plan: RegistrationPlan
    new_deployment_ids: tuple[str, ...]


def parse_initiation(query: Mapping[str, str]) -> InitiationRequest:
    """LTI-DR step 1: `openid_configuration` is required and absolute; `registration_token` is optional."""
    url = (query.get("openid_configuration") or "").strip()
    if not url:
        raise errors.InitiationError(
            "The openid_configuration parameter is missing.", field="openid_configuration"
        )
    try:
        parts = urlsplit(url)
    except ValueError:  # unbalanced IPv6 brackets (https://[::1), a netloc that NFKC-normalizes to /?#@:
        parts = None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
        raise errors.InitiationError(
            "The openid_configuration parameter must be an absolute http(s) URL.",
            field="openid_configuration",
        )
    problem = stored_text.problem(url, stored_text.URL_LENGTH)
    if problem is not None:
        raise errors.InitiationError(f"The openid_configuration parameter {problem}.", field="openid_configuration")
    token = query.get("registration_token") or None
    return InitiationRequest(openid_configuration=url, registration_token=token)


def tool_endpoints(site: TenantSite, key_set: str) -> ToolEndpoints:
    """The URLs a registration request advertises: all on the tenant's site, whose host is the `domain`.
    `key_set` is the key set bound to the platform (tenants.platform_bound_keys), whose JWKS URL the platform
    gets, so it trusts no key the broker uses with any other platform."""
    return ToolEndpoints(
        initiate_login_uri=site.url(LOGIN_PATH),
        redirect_uri=site.launch_url,
        jwks_uri=site.url(platform_jwks_path(key_set)),
        target_link_uri=site.launch_url,
        domain=site.domain,
    )


class RegistrationService:
    def __init__(
        self, database: Database, settings: Settings, client: GuardedClient, platform_keys: PlatformBoundKeys
    ) -> None:
        self.database = database
        self.settings = settings
        self.client = client
        self.platform_keys = platform_keys
        self._sealer = StateSealer(settings.secret_key, "registration-review")
        self._secret_box = SecretBox(settings.secret_key)

    async def begin(
        self, tenant: ReadOnlyTenant, initiation: InitiationRequest, limits: attempts.StepLimits = attempts.UNLIMITED
    ) -> Review | Completed:
        """Steps 1 and 2; then either the review page, or straight on to step 3 when the tenant wants that.
        `limits` are entered with the attempt's first write and left with its last (see attempts.StepLimits)."""
        # Recorded before the platform is called, so an attempt cut off by a restart is found and marked.
        attempt_id = await attempts.open_attempt(self.database, tenant.id, initiation.openid_configuration, limits)
        try:
            platform = await self._fetch_platform(initiation)
        except errors.RegistrationError as error:
            await attempts.fail_attempt(self.database, attempt_id, error)
            raise
        # What the platform said is written once, with the attempt's next status: nothing is called in between.
        fields = _platform_fields(platform)
        try:
            # Checked before the review too, so the admin never reviews a registration the platform would refuse.
            prepared = self._prepare(tenant, platform, initiation.registration_token)
        except errors.RegistrationError as error:
            await attempts.fail_attempt(self.database, attempt_id, error, **fields)
            raise
        if not tenant.review_registrations:
            binding = self.platform_keys.binding(tenant.id, tenant.slug, platform.issuer)
            await attempts.update_attempt(
                self.database,
                attempt_id,
                also=binding,
                status=AttemptStatus.SUBMITTING,
                registration_request=prepared.request,
                **fields,
            )
            return await self._submit(
                tenant,
                attempt_id,
                platform,
                prepared,
                initiation.registration_token,
                limits,
                binding,
                fields["platform_configuration"],
            )
        await attempts.update_attempt(self.database, attempt_id, limits, status=AttemptStatus.REVIEWING, **fields)
        # The stored document is redacted; the real endpoints may carry a secret in their query (Blackboard's
        # registration token, a key set's API key), so they travel sealed with the registration token.
        state = self._sealer.seal(
            {
                "attempt": attempt_id,
                "tenant": tenant.id,
                "token": initiation.registration_token,
                "endpoints": {name: getattr(platform, name) for name in EXACT_ENDPOINTS},
            }
        )
        return Review(attempt_id, platform, prepared.plan, state, prepared.profile, prepared.notes)

    async def complete(
        self,
        tenant: ReadOnlyTenant,
        form_state: str,
        included: frozenset[str] | None = None,
        limits: attempts.StepLimits = attempts.UNLIMITED,
    ) -> Completed:
        """Step 3 after the review: the form's state is single-use, so a double submit registers once.

        `included` holds the review items the admin left ticked (see review.py); None keeps everything. `limits`
        are entered with the claim and left when the outcome is stored.
        """
        try:
            state = self._sealer.unseal(form_state, max_age=REVIEW_FORM_MAX_AGE)
        except StateError as error:
            raise errors.ReviewExpiredError(str(error)) from error
        if state.get("tenant") != tenant.id:
            raise errors.ReviewExpiredError("This form belongs to another tool's registration.")
        attempt = await attempts.reviewed_attempt(self.database, tenant.id, str(state.get("attempt")))
        try:
            try:
                platform = read_platform_configuration(
                    attempt.platform_configuration,
                    configuration_url=attempt.openid_configuration_url,
                    allow_insecure=self.settings.allow_insecure_platforms,
                )
            except PlatformConfigurationError as error:
                raise errors.PlatformConfigurationRejected(error.reason, field=error.field) from error
            platform = _with_exact_endpoints(platform, state)
            prepared = self._prepare(tenant, platform, state.get("token"), included)
        except errors.RegistrationError as error:
            # The form is spent on the failure too, as on a submission.
            await attempts.claim_reviewed_attempt(
                self.database, tenant.id, attempt.id, **attempts.failure(attempt.id, error)
            )
            raise
        # The claim is on record before the platform is called, so a form posted again never registers twice.
        binding = self.platform_keys.binding(tenant.id, tenant.slug, platform.issuer)
        await attempts.claim_reviewed_attempt(
            self.database,
            tenant.id,
            attempt.id,
            limits,
            also=binding,
            status=AttemptStatus.SUBMITTING,
            registration_request=prepared.request,
        )
        # The platform's document was read back from the attempt, where it was stored redacted.
        return await self._submit(
            tenant, attempt.id, platform, prepared, state.get("token"), limits, binding, platform.document
        )

    def _prepare(
        self,
        tenant: ReadOnlyTenant,
        platform: PlatformConfiguration,
        registration_token: str | None,
        included: frozenset[str] | None = None,
    ) -> PreparedRegistration:
        return prepare_registration(
            platform=platform,
            tool=read_tool_configuration(tenant.tool_configuration),
            client_name=tenant.name,
            endpoints=tool_endpoints(
                site_of(self.settings, tenant), self.platform_keys.key_set(tenant.id, platform.issuer)
            ),
            has_registration_token=bool(registration_token),
            allow_insecure=self.settings.allow_insecure_platforms,
            included=included,
        )

    async def _fetch_platform(self, initiation: InitiationRequest) -> PlatformConfiguration:
        # Canvas reads the token from the configuration URL's query, which is kept as given; the Bearer
        # header is sent too because the spec's examples and other platforms accept it.
        headers = _bearer(initiation.registration_token)
        response = await self._call(
            "configuration",
            self.client.get(initiation.openid_configuration, purpose=Purpose.REGISTRATION, headers=headers),
        )
        if not response.is_success:
            # Platforms that tie the configuration to the one-time token (Canvas, Brightspace) answer 401/403
            # once it is used or expired.
            refused = response.status_code in (401, 403)
            raise (errors.RegistrationTokenRejectedError if refused else errors.PlatformRefusedError)(
                f"Fetching the platform's configuration failed with HTTP {response.status_code}: "
                f"{platform_error_text(response.content)}"
            )
        try:
            document = response.json()
        except InvalidJSONError as error:
            raise errors.PlatformUnavailableError("The platform's configuration is not JSON.") from error
        try:
            return read_platform_configuration(
                document,
                configuration_url=initiation.openid_configuration,
                allow_insecure=self.settings.allow_insecure_platforms,
            )
        except PlatformConfigurationError as error:
            raise errors.PlatformConfigurationRejected(error.reason, field=error.field) from error

    async def _submit(
        self,
        tenant: ReadOnlyTenant,
        attempt_id: str,
        platform: PlatformConfiguration,
        prepared: PreparedRegistration,
        registration_token: str | None,
        limits: attempts.StepLimits,
        binding: KeyBinding,
        redacted_document: dict[str, Any],
    ) -> Completed:
        """Step 3 for an attempt already `submitting` with its request on record: the platform's answer is
        recorded with what comes of it, the registration or the failure, in one transaction. `binding` is the
        platform's key set, its key bound by that record's write. `redacted_document` is the platform's document
        as the attempt stored it, which the registration stores too."""
        body = prepared.request
        # The request names the key set's JWKS URL, and some platforms (Brightspace) fetch it at once.
        key_set = await binding.bound()
        try:
            response = await self._call(
                "registration",
                self.client.post_json(
                    platform.registration_endpoint,
                    body,
                    purpose=Purpose.REGISTRATION,
                    headers=_bearer(registration_token),
                ),
            )
        except errors.RegistrationError as error:
            await attempts.fail_attempt(self.database, attempt_id, error)
            raise
        answer: dict[str, Any] = {
            "response_status": response.status_code,
            "response_body": stored_text.record(response.text, MAX_RESPONSE_BODY),
        }
        try:
            result = read_answer(prepared, response.status_code, response.content)
        except RegistrationResponseError as error:
            failure = _refusal(error, prepared.profile)
            await attempts.fail_attempt(self.database, attempt_id, failure, **answer)
            raise failure from error
        if prepared.notes:
            platform = replace(platform, adaptations=(*platform.adaptations, *prepared.notes))
        stored = store.Answer(prepared.plan, body, result, key_set, answer, redacted_document)
        return await self._store(tenant, attempt_id, platform, stored, limits)

    async def _store(
        self,
        tenant: ReadOnlyTenant,
        attempt_id: str,
        platform: PlatformConfiguration,
        stored: store.Answer,
        limits: attempts.StepLimits,
    ) -> Completed:
        """Registration, deployments, outbox event and attempt outcome with the platform's answer commit
        together (leaving the step's `limits`), or not at all; when they cannot, the answer is kept with the
        failure."""
        try:
            try:
                outcome = await self._store_once(tenant, attempt_id, platform, stored, limits)
            except IntegrityError:
                # Another process stored the same (issuer, client_id) first: update it, or find the conflict.
                outcome = await self._store_once(tenant, attempt_id, platform, stored, limits)
        except SQLAlchemyError as error:
            logger.exception(
                "storing registration failed after the platform accepted it (attempt %s)", attempt_id
            )
            failure = errors.StorageFailedError(
                f"The platform registered client_id {stored.result.client_id}; its answer is kept in our records.",
                reference=attempt_id,
            )
            await attempts.fail_attempt(
                self.database, attempt_id, failure, code="storage_failed", **stored.recorded
            )
            raise failure from error
        if isinstance(outcome, errors.RegistrationConflictError):
            raise outcome
        return outcome

    async def _store_once(
        self,
        tenant: ReadOnlyTenant,
        attempt_id: str,
        platform: PlatformConfiguration,
        answer: store.Answer,
        limits: attempts.StepLimits,
    ) -> Completed | errors.RegistrationConflictError:
        async with self.database.ephemeral() as connection:
            await limits.leave(connection)
            outcome = await store.store(
                connection, tenant, attempt_id, platform, answer, self._secret_box, sqlite=self.database.is_sqlite
            )
        if outcome.delivered:
            wake_this_process()
        stored = outcome.stored
        if isinstance(stored, errors.RegistrationConflictError):
            return stored
        return Completed(
            attempt_id, stored.registration, stored.created, platform, answer.plan, stored.new_deployment_ids
        )

    async def _call(self, step: str, call: Awaitable[OutboundResponse]) -> OutboundResponse:
        try:
            return await call
        except UnsafeURLError as error:
            raise errors.PlatformConfigurationRejected(
                f"The platform's {step} URL was refused: {error.reason}.",
                field="openid_configuration" if step == "configuration" else "registration_endpoint",
            ) from error
        except OutboundTimeoutError as error:
            raise errors.PlatformTimeoutError(
                f"The platform's {step} endpoint did not answer in time."
            ) from error
        except OutboundError as error:
            raise errors.PlatformUnavailableError(
                f"The platform's {step} endpoint failed: {error.reason}."
            ) from error


def _bearer(token: str | None) -> dict[str, str]:
    # With no registration_token, no Authorization header at all (Brightspace and Blackboard send none).
    return {"Authorization": f"Bearer {token}"} if token else {}


def _refusal(error: RegistrationResponseError, profile: PlatformProfile) -> errors.RegistrationError:
    if 200 <= error.status_code < 300:
        return errors.AnswerUnusableError(error.detail)
    # 401/403 at this step means the one-time registration token is used up or expired, on every platform.
    refused = error.status_code in (401, 403)
    return (errors.RegistrationTokenRejectedError if refused else errors.PlatformRefusedError)(
        f"HTTP {error.status_code}: {error.detail}",
        next_step=profile.explain_refusal(error.status_code, error.detail),
    )


def _with_exact_endpoints(platform: PlatformConfiguration, state: dict[str, Any]) -> PlatformConfiguration:
    """The platform read from the stored (redacted) document, with the exact endpoints the review form sealed."""
    # A form an older broker process sealed carries the registration endpoint alone.
    endpoints = state.get("endpoints") or {"registration_endpoint": state.get("endpoint")}

    changed: dict[str, Any] = {
        name: value
        for name in EXACT_ENDPOINTS
        if isinstance(value := endpoints.get(name), str) and value != getattr(platform, name)
    }
    # Most documents hold no secret-looking URL, so redaction left their endpoints as they were.
    return replace(platform, **changed) if changed else platform


def _platform_fields(platform: PlatformConfiguration) -> dict[str, Any]:
    return {
        "issuer": platform.issuer,
        "product_family_code": platform.product_family_code,
        "platform_profile": platform.profile,
        "platform_configuration": redact_document(platform.document),
    }
