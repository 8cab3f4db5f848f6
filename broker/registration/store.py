"""The flow's last write: the registration the platform's answer makes or updates, its new deployments, their
events and the attempt's outcome, in the caller's transaction; or, when the answer names another tenant's
platform client, the conflict instead (nothing stored, the owner told).

Core statements built once: an ORM session's flush (its unit of work, the relationship's bookkeeping) cost
more than the statements it wrote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from broker import stored_text
from broker.database import detached, new_id, utcnow
from broker.direct_sql import Statements
from broker.limits.store import Joining
from broker.redaction import redact_secret_fields, redact_url
from broker.registration import attempts, errors
from broker.registration.endpoints import CALLED_ENDPOINTS, endpoint_columns
from broker.registration.models import Deployment, DeploymentSource, Registration
from broker.registration.platform_configuration import PlatformConfiguration
from broker.registration.representation import deployment_event, registration_item, stored_registration_item
from broker.registration.request import RegistrationPlan
from broker.registration.response import RegistrationResult
from broker.webhooks.models import EventType
from broker.webhooks.outbox import record_events
from tenants.encryption import SecretBox
from tenants.models import ReadOnlyTenant

logger = logging.getLogger("broker.registration")

_REGISTRATIONS = Registration.__table__
_DEPLOYMENTS = Deployment.__table__
# Every registration, of any tenant, of one platform client (issuer in any of its three spellings, client_id),
# oldest first, locked for the transaction: in one read, the tenant's own one to update and any other's.
_SPELLINGS = ("issuer", "issuer_slash", "issuer_given")
_OF_CLIENT = (
    select(_REGISTRATIONS)
    .where(
        _REGISTRATIONS.c.issuer.in_([bindparam(name) for name in _SPELLINGS]),
        _REGISTRATIONS.c.client_id == bindparam("client_id"),
    )
    .order_by(_REGISTRATIONS.c.created_at)
    .with_for_update()
)
_DEPLOYMENTS_OF = (
    select(_DEPLOYMENTS)
    .where(_DEPLOYMENTS.c.registration_id == bindparam("registration_id"))
    .order_by(_DEPLOYMENTS.c.id)
)
_INSERT_REGISTRATION = insert(Registration)
_UPDATE_REGISTRATION = update(Registration).where(Registration.id == bindparam("registration_id"))
_INSERT_DEPLOYMENTS = insert(Deployment)
# What registering again writes of a registration that exists: what the platform said and granted, the
# documents, the endpoints and the key set. Its tenant, client, status and history stay.
_REGISTERED_AGAIN = (
    "product_family_code",
    "platform_profile",
    "adaptations",
    "platform_version",
    "authorization_server",
    "registration_endpoint",
    "scopes_requested",
    "scopes_granted",
    "platform_configuration",
    "registration_request",
    "registration_response",
    *CALLED_ENDPOINTS,
    "endpoint_secrets",
    "key_set",
    "updated_at",
)
_COLUMNS = tuple(column.key for column in _REGISTRATIONS.columns)


@dataclass(frozen=True)
class Answer:
    """What a registration is stored with: what was asked, what the platform answered, and the key set."""

    plan: RegistrationPlan
    request: dict[str, Any]
    result: RegistrationResult
    key_set: str
    # The attempt's record of the answer (status and body), written with the outcome.
    recorded: dict[str, Any]
    # The platform's document without its secret-looking URL values, as the attempt stored it (redacted once).
    platform_configuration: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Registered:
    """The registration just stored, as its confirmation page shows it: plain values of the columns it was written
    with (an ORM object of them cost more calls than the rest of the page's reading)."""

    id: str
    issuer: str
    client_id: str
    status: str
    scopes_requested: list[str]
    scopes_granted: list[str]
    token_endpoint: str | None
    deployment_ids: list[str]


@dataclass(frozen=True)
class Stored:
    """The registration as stored, whether it is new, and its new deployments."""

    registration: Registered
    created: bool
    new_deployment_ids: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    stored: Stored | errors.RegistrationConflictError
    # Deliveries were written: wake the workers once the transaction commits (outbox.Recorded).
    delivered: bool


async def store(
    connection: Statements,
    tenant: ReadOnlyTenant,
    attempt_id: str,
    platform: PlatformConfiguration,
    answer: Answer,
    secret_box: SecretBox,
    *,
    sqlite: bool,
) -> Outcome:
    """Stores the answer's registration and finishes the attempt, or records the conflict, in the caller's
    transaction (`sqlite`: on SQLite). An IntegrityError means another process stored the same client first: try
    again in a new transaction."""
    # The registrations read next stay as read until the commit (SQLite's write lock; FOR UPDATE on PostgreSQL).
    await connection.lock()
    client_id = answer.result.client_id
    spellings = dict(zip(_SPELLINGS, _issuer_spellings(platform.issuer), strict=True))
    found = (await connection.execute(_OF_CLIENT, {**spellings, "client_id": client_id})).all()
    owned = next((row for row in found if row.tenant_id != tenant.id), None)
    if owned is not None:
        return await _conflict(connection, tenant, attempt_id, owned, client_id, answer.recorded, notify=not sqlite)
    held = next((row for row in found if row.issuer == platform.issuer), None)
    now = utcnow()
    if held is None:
        # Every column, None where nothing sets it (as an unset attribute reads).
        values: dict[str, Any] = dict.fromkeys(_COLUMNS)
        values |= {
            "id": new_id("reg"),
            "tenant_id": tenant.id,
            "issuer": platform.issuer,
            "client_id": client_id,
            "status": tenant.activation_policy,
            "created_at": now,
        }
        deployment_ids: list[str] = []
    else:
        values = held._asdict()
        deployment_ids = [deployment.deployment_id for deployment in await _deployments_of(connection, held.id)]
    values |= _platform_columns(platform, answer)
    values |= endpoint_columns(_called(platform), secret_box)
    # Registered (again) with the platform-bound JWKS URL: from now on it signs with that key set.
    values |= {"key_set": answer.key_set, "updated_at": now}
    registration_id = values["id"]
    if held is None:
        await connection.execute(_INSERT_REGISTRATION, {key: values[key] for key in _COLUMNS})
    else:
        changed = {key: values[key] for key in _REGISTERED_AGAIN}
        await connection.execute(_UPDATE_REGISTRATION, {"registration_id": registration_id, **changed})
    new_ids = tuple(d for d in answer.result.deployment_ids if d not in deployment_ids)
    if new_ids:
        new = [
            {
                "registration_id": registration_id,
                "deployment_id": deployment_id,
                "source": DeploymentSource.REGISTRATION,
                "created_at": now,
            }
            for deployment_id in new_ids
        ]
        await connection.execute(_INSERT_DEPLOYMENTS, new)
        deployment_ids += new_ids
    item = stored_registration_item(values, deployment_ids)
    event_type = EventType.REGISTRATION_CREATED if held is None else EventType.REGISTRATION_UPDATED
    events = [(event_type, item), *((EventType.DEPLOYMENT_CREATED, deployment_event(item, d)) for d in new_ids)]
    await attempts.finish_attempt(connection, attempt_id, registration_id, **answer.recorded)
    # Numbered last: the tenant's counter stays locked from here until the commit.
    recorded = await record_events(connection, tenant.id, events, notify=not sqlite)
    registered = Registered(
        registration_id,
        values["issuer"],
        client_id,
        values["status"],
        values["scopes_requested"],
        values["scopes_granted"],
        values["token_endpoint"],
        deployment_ids,
    )
    return Outcome(Stored(registered, held is None, new_ids), recorded.delivered)


async def _deployments_of(connection: Joining, registration_id: str) -> list[Deployment]:
    rows = await connection.execute(_DEPLOYMENTS_OF, {"registration_id": registration_id})
    return [detached(Deployment, row._asdict()) for row in rows]


async def _conflict(
    connection: Joining,
    tenant: ReadOnlyTenant,
    attempt_id: str,
    owned: Any,  # its row, as the statements answer it
    client_id: str,
    recorded_answer: dict[str, Any],
    *,
    notify: bool,
) -> Outcome:
    """A platform client belongs to one tenant. When the answer names another tenant's (`owned`), nothing is
    stored: the attempt is marked `conflict` and the owner hears of it, in this transaction.

    Moodle answers this way when an admin accepts its offer to update the tool it found on the same domain.
    """
    conflict = errors.RegistrationConflictError(
        f"Your LMS answered with client_id {client_id!r}, which belongs to another tool registered at this "
        f"broker: it updated that tool's entry instead of adding {tenant.name}.",
        field="client_id",
    )
    deployments = await _deployments_of(connection, owned.id)
    registration = detached(Registration, {**owned._asdict(), "deployments": deployments})
    await attempts.conflict_attempt(connection, attempt_id, conflict, **recorded_answer)
    recorded = await record_events(
        connection,
        owned.tenant_id,
        [(EventType.REGISTRATION_CONFLICT, registration_item(registration))],
        notify=notify,
    )
    logger.warning(
        "registration conflict: attempt %s of tenant %s got client_id %r of registration %s",
        attempt_id, tenant.id, client_id, owned.id,
    )
    return Outcome(conflict, recorded.delivered)


def _issuer_spellings(issuer: str) -> tuple[str, str, str]:
    """The issuer without trailing slashes, with one, and as given: the same platform to the conflict rule."""
    bare = issuer.rstrip("/")
    return bare, bare + "/", issuer


def _called(platform: PlatformConfiguration) -> dict[str, str | None]:
    return {name: getattr(platform, name) for name in CALLED_ENDPOINTS}


def _platform_columns(platform: PlatformConfiguration, answer: Answer) -> dict[str, Any]:
    """What the platform's configuration and answer set of a registration's columns."""
    plan, result = answer.plan, answer.result
    # A platform that does not echo `scope` is taken to grant what was asked.
    granted = result.scopes_granted if result.scopes_granted is not None else plan.scopes
    return {
        "product_family_code": platform.product_family_code,
        "platform_profile": platform.profile,
        "adaptations": list(platform.adaptations),
        "platform_version": platform.version,
        "authorization_server": platform.authorization_server,
        # Redaction can lengthen a URL whose secret was shorter than the marker that replaces it.
        "registration_endpoint": stored_text.record(redact_url(platform.registration_endpoint), stored_text.URL_LENGTH),
        "scopes_requested": list(plan.scopes),
        "scopes_granted": list(granted),
        "platform_configuration": answer.platform_configuration,
        "registration_request": answer.request,
        # Stored for display: without secret-looking query values, and without RFC 7592's management credential.
        "registration_response": redact_secret_fields(result.document),
    }
